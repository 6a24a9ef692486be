"""Revisions of the shared tables (outbox, inbox, sagas, saga_steps), branch ``messaging``."""
