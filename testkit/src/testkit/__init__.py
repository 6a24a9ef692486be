"""Test infrastructure shared by every test suite of the project: real
PostgreSQL and RabbitMQ (testcontainers when a Docker engine is reachable,
otherwise ``TEST_POSTGRES_URL`` / ``TEST_AMQP_URL``), a database and vhost of
their own per test, and the services started as real processes."""
