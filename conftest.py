"""Fixtures for every test suite: real PostgreSQL and RabbitMQ (see the testkit package)."""

pytest_plugins = ["testkit.plugin"]
