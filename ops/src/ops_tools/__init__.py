"""Operator tools for instasaga that need nothing of the services' code
(plain SQL on their databases and the RabbitMQ management API), so they work
against a production deployment as well as a test one."""
