"""Every saga social-service runs, one module each."""

from shared_lib.saga import SagaDefinition

from .create_story import create_story_saga
from .send_message import send_message_saga


def all_sagas() -> list[SagaDefinition]:
    return [send_message_saga(), create_story_saga()]


__all__ = ["all_sagas", "create_story_saga", "send_message_saga"]
