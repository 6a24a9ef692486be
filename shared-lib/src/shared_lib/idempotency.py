"""``Idempotency-Key``: a client may retry any write and get the first outcome.

A POST that creates something or starts a saga accepts the request header
``Idempotency-Key`` (1-255 visible ASCII characters; a random UUID is the usual
choice). Within 24 hours the same key from the same caller answers the first
request's outcome (same status, same resource, header ``Idempotent-Replayed:
true``) instead of doing the write again; the same key with another request (method,
path or body) is refused with 422. Keys are kept in ``idempotency_keys`` in the
service's own database, so the guarantee holds across replicas and restarts.

Two ways to keep an outcome, because writes end in two ways:

* **A plain write** (a comment, a like, a follow, a registration) stores its answer
  in the key's row in the write's own transaction: the key and the write commit
  together or not at all, so a crash leaves nothing half-remembered. A second
  request with the key while the first is still running waits for it on the row's
  unique index and then answers the stored outcome (:func:`run_write`).
* **A saga start** claims the key in the start's transaction, with a saga id derived
  from the key (:meth:`ScopedKey.saga_id`): a retry finds the saga and answers its
  current outcome, read as the first request read it (``shared_lib.saga.http``).

Only successful outcomes are kept: a refused request (4xx) changed nothing, so its
retry is simply handled again. Nothing here is a library's: idempotency keys are
an HTTP convention (the IETF draft ``Idempotency-Key`` header) without a standard
server-side implementation for asyncpg/SQLAlchemy, and the outcome must commit in
the write's own transaction, which middleware cannot do.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import bindparam, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared_lib.database import Database, Queries, Statement, Transaction
from shared_lib.errors import USE_CASE_ERRORS
from shared_lib.tables import idempotency_keys

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
#: saga ids derived from keys (uuid5 of this namespace, the saga type, scope and key)
SAGA_NAMESPACE = uuid.UUID("6f1c1f9e-2f0b-4f55-9a51-7d1f3c7a2b10")

#: the OpenAPI description of the header, on every route that takes it
DESCRIPTION = ("Makes the request safe to retry: the same key from the same caller within "
               "24 hours answers the first request's outcome (header "
               "`Idempotent-Replayed: true`) without doing it again; the same key with "
               "another request is refused with 422. 1-255 visible ASCII characters, "
               "e.g. a random UUID.")


@dataclass(frozen=True)
class RequestKey:
    """The key a request came with and the fingerprint of the request it names."""

    key: str
    fingerprint: str

    def of(self, caller: int | str | None) -> ScopedKey:
        """The key as the caller's own (a user id; None for an anonymous caller)."""
        scope = "anonymous" if caller is None else f"user:{caller}"
        return ScopedKey(scope=scope, key=self.key, fingerprint=self.fingerprint)


def owned_by(key: RequestKey | None, caller: int | str | None) -> ScopedKey | None:
    """The request's key as ``caller``'s own; None when the request came without one."""
    return key.of(caller) if key is not None else None


@dataclass(frozen=True)
class ScopedKey:
    scope: str
    key: str
    fingerprint: str

    def saga_id(self, saga_type: str) -> uuid.UUID:
        return uuid.uuid5(SAGA_NAMESPACE, f"{saga_type}\n{self.scope}\n{self.key}")


@dataclass(frozen=True)
class Prior:
    """What the first request with a key left: its saga, or its stored answer."""

    saga_id: uuid.UUID | None
    status_code: int | None
    body: str | None
    location: str | None

    def response(self) -> Response:
        if self.status_code is None:
            raise RuntimeError("a saga's key has no stored answer")
        headers = {REPLAYED: "true"}
        if self.location:
            headers["Location"] = self.location
        return Response(self.body, status_code=self.status_code, headers=headers,
                        media_type="application/json" if self.body is not None else None)


KEY_REUSED = HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                           f"This {HEADER} was used for another request")


async def request_key(
    request: Request,
    key: Annotated[str | None, Header(alias=HEADER, description=DESCRIPTION,
                                      pattern=r"^[\x21-\x7e]{1,255}$")] = None,
) -> RequestKey | None:
    """The request's key (None without the header; a malformed one is 422)."""
    if key is None:
        return None
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), await request.body()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return RequestKey(key=key, fingerprint=digest.hexdigest())


IdempotencyDep = Annotated[RequestKey | None, Depends(request_key)]

_LOOKUP = (select(idempotency_keys.c.fingerprint, idempotency_keys.c.saga_id,
                  idempotency_keys.c.status_code, idempotency_keys.c.body,
                  idempotency_keys.c.location)
           .where(idempotency_keys.c.scope == bindparam("scope"),
                  idempotency_keys.c.key == bindparam("key")))

#: claim a key for a saga, unless that saga exists already (its key may have been
#: removed after the retention window while the saga is kept longer)
_CLAIM_SAGA = text("""
    INSERT INTO idempotency_keys (scope, key, fingerprint, saga_id)
    SELECT :scope, :key, :fingerprint, :saga_id
    WHERE NOT EXISTS (SELECT 1 FROM sagas WHERE id = :saga_id)
    ON CONFLICT DO NOTHING
    RETURNING 1
""").bindparams(bindparam("saga_id", type_=idempotency_keys.c.saga_id.type))


async def lookup(session: AsyncSession, key: ScopedKey) -> Prior | None:
    """The first request's outcome for ``key``, if it committed one; 422 when that
    request was another one."""
    row = (await session.execute(_LOOKUP, {"scope": key.scope, "key": key.key})).first()
    if row is None:
        return None
    if row.fingerprint != key.fingerprint:
        raise KEY_REUSED
    return Prior(saga_id=row.saga_id, status_code=row.status_code, body=row.body,
                 location=row.location)


_CLAIM_SAGA_DIRECT = Statement("idempotency.claim_saga", """
    INSERT INTO idempotency_keys (scope, key, fingerprint, saga_id)
    SELECT $1, $2, $3, $4
    WHERE NOT EXISTS (SELECT 1 FROM sagas WHERE id = $4)
    ON CONFLICT DO NOTHING
    RETURNING 1""")


async def claim_for_saga(tx: Transaction, key: ScopedKey, saga_id: uuid.UUID) -> bool:
    """In the saga start's transaction: True when this request starts the saga; False
    when a request with the key (or the saga itself) came first, which the caller
    replays. A concurrent first request is waited for (the unique index), so the
    answer is its committed outcome; 422 when the key named another request."""
    if isinstance(tx, Queries):
        if await tx.fetchval(_CLAIM_SAGA_DIRECT, key.scope, key.key, key.fingerprint,
                             saga_id) is not None:
            return True
        row = await tx.fetchrow(_LOOKUP_DIRECT, key.scope, key.key)
        if row is not None and row["fingerprint"] != key.fingerprint:
            raise KEY_REUSED
        return False
    claimed = (await tx.execute(_CLAIM_SAGA, {
        "scope": key.scope, "key": key.key, "fingerprint": key.fingerprint,
        "saga_id": saga_id})).first()
    if claimed is not None:
        return True
    await lookup(tx, key)  # 422 on another request; else the saga is replayed
    return False


async def _remember(session: AsyncSession, key: ScopedKey, status_code: int, body: str,
                    location: str | None) -> bool:
    stmt = (pg_insert(idempotency_keys)
            .values(scope=key.scope, key=key.key, fingerprint=key.fingerprint,
                    status_code=status_code, body=body, location=location)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key))
    return (await session.execute(stmt)).first() is not None


async def run_write(session: AsyncSession, key: ScopedKey | None,
                    write: Callable[[], Awaitable[BaseModel]], *,
                    status_code: int | Callable[[BaseModel], int],
                    location: Callable[[BaseModel], str] | None = None
                    ) -> Response:
    """Do ``write`` (which does not commit) and commit it, its answer kept under
    ``key`` in the same transaction; with a key already answered, answer that
    instead. Without a key: ``write`` and commit, nothing else. ``status_code`` may
    depend on the answer (a follow of a private account is 202)."""
    if key is None:
        out = await write()
        await session.commit()
        return _answer(out, status_code, location)
    if (prior := await lookup(session, key)) is not None:
        return prior.response()
    try:
        out = await write()
    except (HTTPException, *USE_CASE_ERRORS):
        # refused; unless a concurrent request with the key did it first (the write
        # waited for its rows and found them taken): then that one's answer
        await session.rollback()
        if (prior := await lookup(session, key)) is not None:
            return prior.response()
        raise
    answer = _answer(out, status_code, location)
    if not await _remember(session, key, answer.status_code, answer.body.decode(),
                           answer.headers.get("location")):
        # a concurrent request with the key committed first: this write is undone
        await session.rollback()
        prior = await lookup(session, key)
        if prior is None:  # pragma: no cover - the conflicting row committed
            raise RuntimeError("an idempotency key vanished")
        return prior.response()
    await session.commit()
    return answer


# The same on the direct data path (shared_lib.database): a write whose statements
# run on an asyncpg transaction keeps its answer there.

_LOOKUP_DIRECT = Statement("idempotency.lookup", """
    SELECT fingerprint, saga_id, status_code, body, location FROM idempotency_keys
    WHERE scope = $1 AND key = $2""")
_REMEMBER_DIRECT = Statement("idempotency.remember", """
    INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, body, location)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING 1""")


class _KeyTaken(Exception):
    """A concurrent request with the key committed first: this write is undone."""


async def lookup_direct(db: Database, key: ScopedKey) -> Prior | None:
    """:func:`lookup` in one autocommit statement."""
    row = await db.fetchrow(_LOOKUP_DIRECT, key.scope, key.key)
    if row is None:
        return None
    if row["fingerprint"] != key.fingerprint:
        raise KEY_REUSED
    return Prior(saga_id=row["saga_id"], status_code=row["status_code"], body=row["body"],
                 location=row["location"])


async def run_direct_write(db: Database, key: ScopedKey | None,
                           write: Callable[[Queries], Awaitable[BaseModel]], *,
                           status_code: int | Callable[[BaseModel], int],
                           location: Callable[[BaseModel], str] | None = None
                           ) -> Response:
    """:func:`run_write` on the direct data path: ``write`` runs in one transaction
    (its statements' and the outbox's), with the answer kept under ``key`` in it."""
    if key is not None and (prior := await lookup_direct(db, key)) is not None:
        return prior.response()
    try:
        async with db.transaction() as q:
            answer = _answer(await write(q), status_code, location)
            if key is not None and await q.fetchval(
                    _REMEMBER_DIRECT, key.scope, key.key, key.fingerprint,
                    answer.status_code, answer.body.decode(),
                    answer.headers.get("location")) is None:
                raise _KeyTaken
    except (_KeyTaken, HTTPException, *USE_CASE_ERRORS):
        # refused, or beaten by a concurrent request with the key (the write waited
        # for its rows and found them taken): that one's answer, if there is one
        if key is not None and (prior := await lookup_direct(db, key)) is not None:
            return prior.response()
        raise
    return answer


def _answer(out: BaseModel, status_code: int | Callable[[BaseModel], int],
            location: Callable[[BaseModel], str] | None) -> Response:
    code = status_code(out) if callable(status_code) else status_code
    headers = {"Location": location(out)} if location else None
    return Response(out.model_dump_json(), status_code=code, headers=headers,
                    media_type="application/json")
