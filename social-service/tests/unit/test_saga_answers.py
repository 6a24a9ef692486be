"""The answers of the saga-backed routes (send_message, create_story): status,
body and detail by the status of the message or story, whatever the saga's
outcome said when the wait ended."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from fastapi import HTTPException, Response

from shared_lib.saga import SagaData, SagaStatus
from shared_lib.saga.http import SagaOutcome
from social_service.api.messages import SEND_MESSAGE_REJECTIONS, sent_message_response
from social_service.api.stories import CREATE_STORY_REJECTIONS, created_story_response
from social_service.models import MessageStatus, StoryStatus
from social_service.sagas.create_story import CreateStoryRejection
from social_service.sagas.send_message import SendMessageRejection
from social_service.services.messages import MessageRecord
from social_service.services.stories import StoryRecord

TIMEOUT = "no reply from authorize_message after 3 attempts"
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
#: what the saga said when the wait ended: done, rejected, or still running
OUTCOMES = [
    SagaOutcome(uuid.uuid4(), True, SagaStatus.completed, None, SagaData()),
    SagaOutcome(uuid.uuid4(), True, SagaStatus.compensated, "Receiver not found", SagaData()),
    SagaOutcome(uuid.uuid4(), False, SagaStatus.running, None, SagaData()),
]


def _message(status: MessageStatus, reason: str | None = None) -> MessageRecord:
    return MessageRecord(id=7, sender_id=1, receiver_id=2, content="hi", is_read=False,
                   status=status.value, rejection_reason=reason, created_at=NOW)


def _story(status: StoryStatus, reason: str | None = None) -> StoryRecord:
    return StoryRecord(id=9, author_id=1, author_username="alice", image_url=None, content="hi",
                 status=status.value, rejection_reason=reason, created_at=NOW,
                 expires_at=NOW)


def _answer(call: Callable[[], Response]) -> tuple[int, object, str | None]:
    """(status, body or detail, Location) of a response or of the HTTP error raised."""
    try:
        response = call()
    except HTTPException as exc:
        return exc.status_code, exc.detail, None
    return (response.status_code, json.loads(response.body),
            response.headers.get("location"))


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_message_answers_from_its_own_status(outcome: SagaOutcome) -> None:
    def answer(message: MessageRecord) -> tuple[int, object, str | None]:
        return _answer(lambda: sent_message_response(outcome, message))

    status, body, location = answer(_message(MessageStatus.sent))
    assert (status, location) == (201, "/api/messages/2")
    assert body["id"] == 7 and body["status"] == "sent"  # type: ignore[index]
    status, body, location = answer(_message(MessageStatus.pending))
    assert (status, location) == (202, "/api/messages/2")
    assert body["status"] == "pending"  # type: ignore[index]
    assert answer(_message(MessageStatus.rejected, "Receiver not found")) \
        == (404, "Receiver not found", None)
    assert answer(_message(MessageStatus.rejected, "Sender is deactivated")) \
        == (403, "Sender is deactivated", None)
    assert answer(_message(MessageStatus.rejected, "The message is gone")) \
        == (403, "The message is gone", None)
    assert answer(_message(MessageStatus.rejected)) == (403, "The message was rejected", None)
    assert answer(_message(MessageStatus.rejected, TIMEOUT)) \
        == (503, f"The message could not be sent now: {TIMEOUT}", None)


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_a_story_answers_from_its_own_status(outcome: SagaOutcome) -> None:
    def answer(story: StoryRecord) -> tuple[int, object, str | None]:
        return _answer(lambda: created_story_response(outcome, story))

    status, body, location = answer(_story(StoryStatus.active))
    assert (status, location) == (201, "/api/stories") and body["status"] == "active"  # type: ignore[index]
    status, body, location = answer(_story(StoryStatus.pending))
    assert (status, location) == (202, "/api/stories") and body["status"] == "pending"  # type: ignore[index]
    assert answer(_story(StoryStatus.rejected, "Author is deactivated")) \
        == (403, "Author is deactivated", None)
    assert answer(_story(StoryStatus.rejected)) == (403, "The story was rejected", None)
    timeout = "no reply from record_story after 3 attempts"
    assert answer(_story(StoryStatus.rejected, timeout)) \
        == (503, f"The story could not be published now: {timeout}", None)


def test_every_rejection_reason_has_its_status() -> None:
    assert {r.value: SEND_MESSAGE_REJECTIONS.status_of(r) for r in SendMessageRejection} == {
        "Sender is deactivated": 403, "Receiver not found": 404, "The message is gone": 403,
        "You cannot message this user": 403}
    assert {r.value: CREATE_STORY_REJECTIONS.status_of(r) for r in CreateStoryRejection} == {
        "Author is deactivated": 403, "The story was deleted before it was published": 403}
