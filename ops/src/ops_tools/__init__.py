"""Operator tools for instasaga that need nothing of the services' code
(plain SQL on their databases, the RabbitMQ management API and plain AMQP),
so they work against a production deployment as well as a test one:
``consistency`` (the cross-service consistency checker) and ``replay_dlq``
(moves dead-lettered messages back to where they were published)."""
