"""Every saga core-service runs, one module each."""

from shared_lib.saga import SagaDefinition

from .create_post import create_post_saga
from .delete_account import delete_account_saga
from .delete_post import delete_post_saga


def all_sagas() -> list[SagaDefinition]:
    return [create_post_saga(), delete_post_saga(), delete_account_saga()]


__all__ = [
    "all_sagas",
    "create_post_saga",
    "delete_account_saga",
    "delete_post_saga",
]
