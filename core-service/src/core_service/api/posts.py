"""/api/posts: create and delete (sagas), read, likes, comments."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from core_service.api.deps import CurrentUser, OptionalUser, TokenDep
from core_service.api.mapping import authored_comment_out, post_out, post_record_out
from core_service.domain.posts import PostStatus
from core_service.sagas.create_post import CREATE_POST, CreatePostData, CreatePostRejection
from core_service.sagas.delete_post import DELETE_POST, DeletePostData, DeletePostRejection
from core_service.schemas import CommentIn, CommentOut, LikeOut, PostIn, PostOut
from core_service.services import comments, likes, post_lifecycle, posts, users
from shared_lib.database import Queries
from shared_lib.deps import DatabaseDep, RuntimeDep, SessionDep
from shared_lib.idempotency import IdempotencyDep, owned_by, run_direct_write
from shared_lib.openapi import accepted, described, errors
from shared_lib.saga import SagaStatus
from shared_lib.saga.http import (
    Rejections,
    answer_started,
    record_response,
    run_saga,
    saga_response,
    start_saga,
)
from shared_lib.web import IdPath, Limit, Offset

router = APIRouter(prefix="/api/posts", tags=["posts"])

#: every refusal of a post is 422 with the post's rejection reason: core's own,
#: social's (hashtags refused) and a timeout of index_hashtags alike, so
#: create_post answers a rejected post itself (a timeout would be 503 otherwise)
CREATE_POST_REJECTIONS = Rejections({reason: 422 for reason in CreatePostRejection},
                                    default=422)
#: a deletion refused, or failed and left to an operator, was not done: the post is kept
DELETE_POST_REJECTIONS = Rejections(
    {DeletePostRejection.not_published: 409}, default=503, failed_is_refused=True,
    details={409: "The post is being created or deleted; try again later",
             503: "The post could not be deleted now and was kept: {reason}"})


@router.post("", response_model=PostOut, status_code=status.HTTP_201_CREATED,
             responses={**accepted(PostOut, "The post: poll it until it is published or "
                                            "rejected"),
                        **described({422: "Empty, too long, or its hashtags refused"})})
async def create_post(body: PostIn, request: Request, token: TokenDep, runtime: RuntimeDep,
                      db: DatabaseDep, key: IdempotencyDep) -> Response:
    user = await users.token_user(db, token)
    if body.is_empty():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "A post needs content or an image")
    data = CreatePostData.new(user.id, user.username, body.content, body.image_url)
    outcome = await start_saga(request, runtime, CREATE_POST, data, key=owned_by(key, user.id))
    post_id = outcome.data.post

    async def answer() -> Response:
        post = await posts.own_post(db, post_id, user.id)
        if post.status == PostStatus.rejected:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                post.rejection_reason or "The post was rejected")
        # 201 once published; 202 otherwise, and the client polls Location
        published = post.status == PostStatus.published
        return record_response(outcome,
                               record_status=SagaStatus.completed if published else None,
                               rejections=CREATE_POST_REJECTIONS,
                               body=post_record_out(post).model_dump(mode="json"),
                               location=f"/api/posts/{post.id}")

    return await answer_started(outcome, f"/api/posts/{post_id}", answer, post_id)


@router.delete("/comments/{comment_id}", status_code=status.HTTP_204_NO_CONTENT,
               tags=["comments"], responses=errors(403, 404))
async def delete_comment(comment_id: IdPath, user: CurrentUser, session: SessionDep) -> None:
    await comments.delete_comment(session, user, comment_id)
    await session.commit()


@router.get("/{post_id}", response_model=PostOut, responses=errors(404))
async def get_post(post_id: IdPath, session: SessionDep, viewer: OptionalUser) -> PostOut:
    return post_out(await posts.visible_post(session, post_id, viewer.id if viewer else None))


@router.delete("/{post_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses={**accepted(None, "The post: poll it until it is gone (404)"),
                          **errors(403, 404),
                          **described({409: "The post is being created or deleted",
                                       503: "social-service did not answer; the post is "
                                            "kept"})})
async def delete_post(post_id: IdPath, request: Request, user: CurrentUser,
                      runtime: RuntimeDep, session: SessionDep) -> Response:
    if await post_lifecycle.delete_if_rejected(session, user.id, post_id):
        await session.commit()
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    outcome = await run_saga(request, runtime, session, DELETE_POST,
                             DeletePostData(post_id=post_id))
    return saga_response(outcome, rejections=DELETE_POST_REJECTIONS,
                         done_status=status.HTTP_204_NO_CONTENT,
                         location=f"/api/posts/{post_id}")


@router.post("/{post_id}/likes", response_model=LikeOut, tags=["likes"],
             responses=errors(403, 404))
async def toggle_like(post_id: IdPath, token: TokenDep, db: DatabaseDep,
                      key: IdempotencyDep) -> Response:
    """Like the post, or unlike it if I did: a retry with the same ``Idempotency-Key``
    does not toggle it back."""

    async def write(q: Queries) -> LikeOut:
        liked, count = await likes.toggle_like(q, token, post_id)
        return LikeOut(liked=liked, like_count=count)

    return await run_direct_write(db, owned_by(key, token.user_id), write, status_code=200)


@router.get("/{post_id}/comments", response_model=list[CommentOut], tags=["comments"],
            responses=errors(404))
async def list_comments(post_id: IdPath, user: CurrentUser, session: SessionDep,
                        limit: Limit = 20, offset: Offset = 0) -> list[CommentOut]:
    return [authored_comment_out(c)
            for c in await comments.of_post(session, user.id, post_id, limit, offset)]


@router.post("/{post_id}/comments", response_model=CommentOut,
             status_code=status.HTTP_201_CREATED, tags=["comments"],
             responses=errors(403, 404))
async def add_comment(post_id: IdPath, body: CommentIn, token: TokenDep, db: DatabaseDep,
                      key: IdempotencyDep) -> Response:
    async def write(q: Queries) -> CommentOut:
        c = await comments.add_comment(q, token, post_id, body.content)
        return CommentOut(id=c.id, post_id=c.post_id, author_id=c.author_id,
                          author_username=c.author_username, content=c.content,
                          created_at=c.created_at)

    return await run_direct_write(db, owned_by(key, token.user_id), write, status_code=201)
