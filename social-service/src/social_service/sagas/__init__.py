"""Every saga social-service runs (send_message and create_story come next)."""

from shared_lib.saga import SagaDefinition


def all_sagas() -> list[SagaDefinition]:
    return []
