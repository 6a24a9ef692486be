"""/api/posts: create and delete (sagas), read, likes, comments."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import delete

from core_service.api.deps import CurrentUser, OptionalUser
from core_service.models import Post, PostStatus
from core_service.sagas.create_post import CREATE_POST, create_post_data
from core_service.sagas.delete_post import DELETE_POST
from core_service.schemas import CommentIn, CommentOut, LikeOut, PostIn, PostOut
from core_service.services import posts as svc
from core_service.services.errors import Conflict, Forbidden
from shared_lib.deps import RuntimeDep, SessionDep
from shared_lib.saga import SagaStatus
from shared_lib.web import IdPath, Limit, Offset, run_saga

router = APIRouter(prefix="/api/posts", tags=["posts"])


@router.post("", response_model=PostOut, status_code=status.HTTP_201_CREATED,
             responses={202: {"model": PostOut, "description": "saga still running"},
                        422: {"description": "empty, too long, or hashtags rejected"}})
async def create_post(body: PostIn, request: Request, user: CurrentUser, runtime: RuntimeDep,
                      session: SessionDep) -> Response:
    if body.is_empty():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "A post needs content or an image")
    data = create_post_data(user.id, body.content, body.image_url)
    data["author_username"] = user.username
    outcome = await run_saga(request, runtime, session, CREATE_POST, data)
    loaded = await svc.load_post(session, outcome.data["post_id"])
    assert loaded is not None
    out = svc.post_out(*loaded)
    body_json = out.model_dump(mode="json")
    location = {"Location": f"/api/posts/{out.id}"}
    if out.status == PostStatus.published:
        return JSONResponse(body_json, status_code=status.HTTP_201_CREATED, headers=location)
    if out.status == PostStatus.rejected:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            out.rejection_reason or "The post was rejected")
    # still running (or waiting for an operator): the client polls Location
    return JSONResponse(body_json, status_code=status.HTTP_202_ACCEPTED, headers=location)


@router.delete("/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT,
               tags=["comments"])
async def delete_comment(comment_id: IdPath, user: CurrentUser, session: SessionDep) -> None:
    await svc.delete_comment(session, user, comment_id)
    await session.commit()


@router.get("/{post_id}", response_model=PostOut)
async def get_post(post_id: IdPath, session: SessionDep, viewer: OptionalUser) -> PostOut:
    return svc.post_out(*await svc.visible_post(session, post_id,
                                                viewer.id if viewer else None))


@router.delete("/{post_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={202: {"description": "deletion still running"},
                          503: {"description": "social-service did not answer; restored"}})
async def delete_post(post_id: IdPath, request: Request, user: CurrentUser,
                      runtime: RuntimeDep, session: SessionDep) -> Response:
    post, _ = await svc.visible_post(session, post_id, user.id)
    if post.author_id != user.id:
        raise Forbidden("Not allowed to delete this post")
    if post.status == PostStatus.rejected:
        # never published: social holds nothing about it
        await session.execute(delete(Post).where(Post.id == post_id,
                                                 Post.status == PostStatus.rejected.value))
        await session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    if post.status != PostStatus.published:
        raise Conflict(f"The post is {post.status}; try again when that is done")
    outcome = await run_saga(request, runtime, session, DELETE_POST, {"post_id": post_id})
    if not outcome.finished:
        return Response(status_code=status.HTTP_202_ACCEPTED)
    if outcome.status == SagaStatus.completed:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    if outcome.reason == "The post is not published":
        raise Conflict("The post is being created or deleted; try again later")
    raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                        f"The post could not be deleted now and was kept: {outcome.reason}")


@router.post("/{post_id}/likes", response_model=LikeOut, tags=["likes"])
async def toggle_like(post_id: IdPath, user: CurrentUser, session: SessionDep) -> LikeOut:
    liked, count = await svc.toggle_like(session, user, post_id)
    await session.commit()
    return LikeOut(liked=liked, like_count=count)


@router.get("/{post_id}/comments", response_model=list[CommentOut], tags=["comments"])
async def list_comments(post_id: IdPath, user: CurrentUser, session: SessionDep,
                        limit: Limit = 20, offset: Offset = 0) -> list[CommentOut]:
    await svc.visible_post(session, post_id, user.id)
    return await svc.list_comments(session, post_id, limit, offset)


@router.post("/{post_id}/comments", response_model=CommentOut,
             status_code=status.HTTP_201_CREATED, tags=["comments"])
async def add_comment(post_id: IdPath, body: CommentIn, user: CurrentUser,
                      session: SessionDep) -> CommentOut:
    result = await svc.add_comment(session, user, post_id, body.content)
    await session.commit()
    return result

