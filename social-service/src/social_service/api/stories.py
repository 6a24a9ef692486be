"""/api/stories: create (create_story saga), mine, feed, delete."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import func, or_, select

from shared_lib.contracts.messages import StoryDeleted
from shared_lib.deps import RuntimeDep, SessionDep
from shared_lib.outbox import publish_event
from shared_lib.saga import is_timeout
from shared_lib.web import IdPath, Limit, Offset, run_saga
from social_service.api.deps import CurrentViewer
from social_service.models import FollowEdge, Story, StoryStatus
from social_service.sagas.create_story import CREATE_STORY
from social_service.schemas import StoryIn, StoryOut

router = APIRouter(prefix="/api/stories", tags=["stories"])


def _active():  # type: ignore[no-untyped-def]
    return (Story.status == StoryStatus.active.value) & (Story.expires_at > func.now())


@router.post("", response_model=StoryOut, status_code=status.HTTP_201_CREATED,
             responses={202: {"model": StoryOut}, 403: {}, 422: {}, 503: {}})
async def create_story(body: StoryIn, request: Request, viewer: CurrentViewer,
                       runtime: RuntimeDep, session: SessionDep) -> Response:
    if not (body.image_url or "").strip() and not (body.content or "").strip():
        raise HTTPException(422, "A story needs an image or content")
    outcome = await run_saga(
        request, runtime, session, CREATE_STORY,
        {"author_id": viewer.id, "author_username": viewer.username,
         "image_url": body.image_url, "content": body.content})
    story = await session.get(Story, outcome.data["story_id"])
    assert story is not None
    out = StoryOut.model_validate(story).model_dump(mode="json")
    if story.status == StoryStatus.active:
        return JSONResponse(out, status_code=201)
    if story.status == StoryStatus.rejected:
        reason = story.rejection_reason or "The story was rejected"
        if is_timeout(reason):
            raise HTTPException(503, f"The story could not be published now: {reason}")
        raise HTTPException(403, reason)
    return JSONResponse(out, status_code=202)


@router.get("", response_model=list[StoryOut])
async def my_stories(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                     offset: Offset = 0) -> list[Story]:
    return list((await session.execute(
        select(Story).where(Story.author_id == viewer.id, _active())
        .order_by(Story.created_at.desc(), Story.id.desc()).limit(limit).offset(offset)
    )).scalars())


@router.get("/feed", response_model=list[StoryOut])
async def story_feed(viewer: CurrentViewer, session: SessionDep, limit: Limit = 20,
                     offset: Offset = 0) -> list[Story]:
    followed = select(FollowEdge.followee_id).where(FollowEdge.follower_id == viewer.id,
                                                    FollowEdge.active)
    return list((await session.execute(
        select(Story)
        .where(_active(), or_(Story.author_id == viewer.id, Story.author_id.in_(followed)))
        .order_by(Story.created_at.desc(), Story.id.desc()).limit(limit).offset(offset)
    )).scalars())


@router.delete("/{story_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_story(story_id: IdPath, viewer: CurrentViewer, session: SessionDep) -> None:
    story = await session.get(Story, story_id, with_for_update=True)
    if story is None or story.status == StoryStatus.rejected:
        raise HTTPException(404, "Story not found")
    if story.author_id != viewer.id:
        raise HTTPException(403, "Not allowed to delete this story")
    await session.delete(story)
    # core clears has_active_story from this event
    await publish_event(session, StoryDeleted(story_id=story_id, author_id=viewer.id),
                        source="social")
    await session.commit()

