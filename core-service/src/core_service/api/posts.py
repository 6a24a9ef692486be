"""/api/posts: create (create_post saga) and read."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select

from core_service.api.deps import CurrentUser, OptionalUser, RuntimeDep, SessionDep
from core_service.models import Post, PostStatus, User
from core_service.sagas.create_post import CREATE_POST, create_post_data
from core_service.schemas import PostIn, PostOut
from shared_lib.web import IdPath, start_and_wait, wants_async

router = APIRouter(prefix="/api/posts", tags=["posts"])


def post_out(post: Post, author_username: str) -> PostOut:
    return PostOut(
        id=post.id, author_id=post.author_id, author_username=author_username,
        content=post.content, image_url=post.image_url, hashtags=list(post.hashtags or []),
        like_count=post.like_count, comment_count=post.comment_count, status=post.status,
        rejection_reason=post.rejection_reason, created_at=post.created_at,
    )


async def load_post(session: SessionDep, post_id: int) -> tuple[Post, str] | None:
    row = (await session.execute(
        select(Post, User.username).join(User, User.id == Post.author_id)
        .where(Post.id == post_id)
    )).first()
    return (row[0], row[1]) if row else None


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
    await session.close()  # the saga runs in its own transaction
    outcome = await start_and_wait(runtime, CREATE_POST, data,
                                   respond_async=wants_async(request))
    loaded = await load_post(session, outcome.data["post_id"])
    assert loaded is not None
    out = post_out(*loaded)
    body = out.model_dump(mode="json")
    location = {"Location": f"/api/posts/{out.id}"}
    if out.status == PostStatus.published:
        return JSONResponse(body, status_code=status.HTTP_201_CREATED, headers=location)
    if out.status == PostStatus.rejected:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            out.rejection_reason or "The post was rejected")
    # still running (or waiting for an operator): the client polls Location
    return JSONResponse(body, status_code=status.HTTP_202_ACCEPTED, headers=location)


@router.get("/{post_id}", response_model=PostOut)
async def get_post(post_id: IdPath, session: SessionDep, viewer: OptionalUser) -> PostOut:
    loaded = await load_post(session, post_id)
    if loaded is None:
        raise HTTPException(404, "Post not found")
    post, username = loaded
    is_author = viewer is not None and viewer.id == post.author_id
    if post.status != PostStatus.published and not is_author:
        raise HTTPException(404, "Post not found")
    return post_out(post, username)
