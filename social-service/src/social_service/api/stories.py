"""/api/stories: create (create_story saga), mine, feed, delete."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from shared_lib.deps import DatabaseDep, RuntimeDep, SessionDep
from shared_lib.idempotency import IdempotencyDep, owned_by
from shared_lib.openapi import accepted, described, errors
from shared_lib.saga import SagaStatus
from shared_lib.saga.http import (
    Rejections,
    SagaOutcome,
    answer_started,
    record_response,
    start_saga,
)
from shared_lib.web import IdPath, Limit, Offset
from social_service.api.deps import CurrentViewer
from social_service.domain.stories import is_empty_story
from social_service.models import Story, StoryStatus
from social_service.sagas.create_story import CREATE_STORY, CreateStoryData, CreateStoryRejection
from social_service.schemas import StoryIn, StoryOut
from social_service.services import stories
from social_service.services.stories import StoryRecord

router = APIRouter(prefix="/api/stories", tags=["stories"])

CREATE_STORY_REJECTIONS = Rejections({CreateStoryRejection.author_deactivated: 403,
                                      CreateStoryRejection.story_deleted: 403}, default=403)
#: the saga's outcome each status of its story stands for (pending: still running)
_OUTCOME = {StoryStatus.active: SagaStatus.completed,
            StoryStatus.rejected: SagaStatus.compensated}


def created_story_response(outcome: SagaOutcome, story: StoryRecord) -> Response:
    """201 active, 202 pending, or the rejection (403, 503 on a timeout)."""
    return record_response(
        outcome, record_status=_OUTCOME.get(story.status),
        reason=story.rejection_reason or "The story was rejected",
        rejections=CREATE_STORY_REJECTIONS, unavailable="The story could not be published now",
        body=StoryOut.model_validate(story).model_dump(mode="json"),
        location="/api/stories")


@router.post("", response_model=StoryOut, status_code=status.HTTP_201_CREATED,
             responses={**accepted(StoryOut, "Your active stories, where the story shows "
                                             "once published"),
                        **described({403: "Your account is deactivated",
                                     422: "Neither an image nor content",
                                     503: "core-service did not answer in time"})})
async def create_story(body: StoryIn, request: Request, viewer: CurrentViewer,
                       runtime: RuntimeDep, db: DatabaseDep,
                       key: IdempotencyDep) -> Response:
    if is_empty_story(body.image_url, body.content):
        raise HTTPException(422, "A story needs an image or content")
    outcome = await start_saga(
        request, runtime, CREATE_STORY,
        CreateStoryData(author_id=viewer.id, author_username=viewer.username,
                        image_url=body.image_url, content=body.content),
        key=owned_by(key, viewer.id))

    async def answer() -> Response:
        story = await stories.story_record(db, outcome.data.story)
        return created_story_response(outcome, story)

    return await answer_started(outcome, "/api/stories", answer, outcome.data.story)


@router.get("", response_model=list[StoryOut])
async def my_stories(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                     offset: Offset = 0) -> list[Story]:
    return await stories.active_of(session, viewer.id, limit=limit, offset=offset)


@router.get("/feed", response_model=list[StoryOut])
async def story_feed(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                     offset: Offset = 0) -> list[Story]:
    return await stories.feed(session, viewer.id, limit=limit, offset=offset)


@router.delete("/{story_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=errors(403, 404))
async def delete_story(story_id: IdPath, viewer: CurrentViewer, session: SessionDep) -> None:
    await stories.delete_story(session, story_id, viewer.id)
    await session.commit()
