"""How core's saga-backed routes answer, on top of ``saga_response``."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException, Response, status

from shared_lib.saga import SagaStatus
from shared_lib.saga.http import Rejections, SagaOutcome, saga_response


def deletion_response(outcome: SagaOutcome, *, rejections: Rejections,
                      refusals: Mapping[int, str]) -> Response:
    """204 once deleted, 202 while the saga runs. A deletion whose saga was
    rejected, or failed and waits for an operator, was not done: the status
    ``rejections`` gives its reason, with the detail ``refusals`` has for that
    status (``{reason}`` is replaced by the saga's reason)."""
    if outcome.finished and outcome.status in (SagaStatus.compensated, SagaStatus.failed):
        code = rejections.status_of(outcome.reason)
        raise HTTPException(code, refusals[code].format(reason=outcome.reason))
    return saga_response(outcome, rejections=rejections, done_status=status.HTTP_204_NO_CONTENT)

