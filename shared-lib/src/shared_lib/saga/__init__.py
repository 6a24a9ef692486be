"""The saga engine: definitions, orchestrator, persistence and waiting."""

from .definition import (
    FINAL_STATUSES,
    LocalStep,
    RemoteStep,
    SagaContext,
    SagaData,
    SagaDefinition,
    SagaStatus,
    StepAction,
    StepRejected,
    made_by,
    start_only,
)
from .engine import SagaOrchestrator, UnknownSaga, is_timeout
from .store import LogEntry, SagaState, SagaStore, SqlSagaStore
from .waiter import SagaWaiter

__all__ = [
    "FINAL_STATUSES",
    "LocalStep",
    "LogEntry",
    "RemoteStep",
    "SagaContext",
    "SagaData",
    "SagaDefinition",
    "SagaOrchestrator",
    "SagaState",
    "SagaStatus",
    "SagaStore",
    "SagaWaiter",
    "SqlSagaStore",
    "StepAction",
    "StepRejected",
    "UnknownSaga",
    "is_timeout",
    "made_by",
    "start_only",
]
