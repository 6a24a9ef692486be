"""Fixtures for every test suite: real PostgreSQL and RabbitMQ (see shared_lib.testing)."""

pytest_plugins = ["shared_lib.testing.plugin"]
