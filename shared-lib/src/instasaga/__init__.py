"""This system's own vocabulary, apart from the generic machinery in ``shared_lib``
(which names no service): its services (:mod:`.services`), the commands and events
they exchange (:mod:`.messages`), its RabbitMQ topology with the subscriptions
manifest it is built from (:mod:`.topology`, ``subscriptions.json``) and the
AsyncAPI documents of its messages (:mod:`.asyncapi`)."""
