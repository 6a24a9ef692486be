"""The answers of the saga-backed routes: status and detail by the saga's
outcome and reason, or by the record the saga created."""

from __future__ import annotations

import uuid

import pytest
from fastapi import HTTPException

from core_service.api.posts import CREATE_POST_REJECTIONS, DELETE_POST_REJECTIONS
from core_service.api.users import DELETE_ACCOUNT_REJECTIONS
from core_service.sagas.delete_account import DeleteAccountRejection
from core_service.sagas.delete_post import DeletePostRejection
from shared_lib.saga import SagaData, SagaStatus
from shared_lib.saga.http import SagaOutcome, record_response, saga_response

TIMEOUT = "no reply from purge_post after 3 attempts"


def _outcome(status: SagaStatus, reason: str | None = None, finished: bool = True
             ) -> SagaOutcome:
    return SagaOutcome(uuid.uuid4(), finished, status, reason, SagaData())


def _post(outcome: SagaOutcome) -> tuple[int, str | None]:
    try:
        response = saga_response(outcome, rejections=DELETE_POST_REJECTIONS, done_status=204)
    except HTTPException as exc:
        return exc.status_code, exc.detail
    return response.status_code, None


def _account(outcome: SagaOutcome) -> tuple[int, str | None]:
    try:
        response = saga_response(outcome, rejections=DELETE_ACCOUNT_REJECTIONS,
                                 done_status=204)
    except HTTPException as exc:
        return exc.status_code, exc.detail
    return response.status_code, None


@pytest.mark.parametrize("answer", [_post, _account], ids=["delete_post", "delete_account"])
def test_done_and_still_running(answer) -> None:  # type: ignore[no-untyped-def]
    assert answer(_outcome(SagaStatus.completed)) == (204, None)
    assert answer(_outcome(SagaStatus.running, finished=False)) == (202, None)
    assert answer(_outcome(SagaStatus.compensating, finished=False)) == (202, None)


def test_delete_post_refusals() -> None:
    busy = (409, "The post is being created or deleted; try again later")
    assert _post(_outcome(SagaStatus.compensated, DeletePostRejection.not_published)) == busy
    assert _post(_outcome(SagaStatus.compensated, "The post is not published")) == busy
    assert _post(_outcome(SagaStatus.failed, DeletePostRejection.not_published)) == busy
    assert _post(_outcome(SagaStatus.compensated, TIMEOUT)) == (
        503, f"The post could not be deleted now and was kept: {TIMEOUT}")
    assert _post(_outcome(SagaStatus.failed, "boom {x}")) == (
        503, "The post could not be deleted now and was kept: boom {x}")


def test_delete_account_refusals() -> None:
    for reason in (DeleteAccountRejection.already_deleting, TIMEOUT, None):
        for status in (SagaStatus.compensated, SagaStatus.failed):
            assert _account(_outcome(status, reason)) == (
                503, f"The account could not be deleted now: "
                     f"{reason or 'The request was rejected'}")


@pytest.mark.parametrize("saga_status", [SagaStatus.running, SagaStatus.completed,
                                         SagaStatus.failed])
def test_create_post_answers_from_the_post(saga_status: SagaStatus) -> None:
    outcome = _outcome(saga_status, finished=saga_status != SagaStatus.running)
    for done, code in ((True, 201), (False, 202)):
        response = record_response(outcome,
                                   record_status=SagaStatus.completed if done else None,
                                   rejections=CREATE_POST_REJECTIONS, body={"id": 7},
                                   location="/api/posts/7")
        assert response.status_code == code
        assert response.headers["location"] == "/api/posts/7"
        assert response.body == b'{"id":7}'
