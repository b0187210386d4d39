"""Idempotency keys for create-type API calls: a retried call answers with the first result.

A client sends `Idempotency-Key: <its own unique value>` with a POST that creates something.
The first call stores the key (per user) with a fingerprint of what was asked and, once it
succeeded, the answer; a retry with the same key and the same request gets that answer again
and creates nothing. The key row is written in the same transaction as the business action,
so a failed action (rolled back) leaves no key and a corrected retry may reuse it, and a
committed action always has its key. Two calls racing with one key meet on the table's
unique constraint: the loser waits for the winner's transaction, then replays its answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import IdempotencyKey
from services.errors import Conflict, ValidationFailed
from services.tick import job

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
DEFAULT_MAX_AGE_DAYS = 7


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: str


@dataclass(frozen=True)
class Begun:
    """Either the stored answer to replay, or the new key row to `remember()` into."""

    replay: Replay | None = None
    row: IdempotencyKey | None = None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of what was asked: the same key must come with the same request."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode("utf-8"), body or b""):
        digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no ambiguous joins
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str | None) -> str:
    text = (key or "").strip()
    if not text:
        raise ValidationFailed(_l("The %(header)s header is empty.", header=HEADER),
                               {HEADER: [_l("must not be empty")]})
    if len(text) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            _l("The %(header)s header is too long.", header=HEADER),
            {HEADER: [_l("at most %(n)s characters", n=MAX_KEY_LENGTH)]})
    return text


def _stored(user_id: int, key: str) -> IdempotencyKey | None:
    return db.session.execute(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id,
                                     IdempotencyKey.key == key)
        .execution_options(populate_existing=True)).scalar_one_or_none()


def _answer(row: IdempotencyKey, fingerprint_: str) -> Replay:
    if row.fingerprint != fingerprint_:
        raise Conflict(
            _l("This %(header)s was already used for a different request; send a new key for "
               "a new request.", header=HEADER),
            {HEADER: [_l("was used with another request body")]})
    if row.status_code is None:
        raise Conflict(
            _l("A request with this %(header)s is still being processed; retry in a moment.",
               header=HEADER), {HEADER: [_l("is still being processed")]})
    return Replay(row.status_code, row.response_body or "")


def begin(user_id: int, key: str, fingerprint_: str, *, now: datetime | None = None) -> Begun:
    """The stored answer for (user, key), or a new key row in the current transaction.

    Raises Conflict (409) when the key came with another request, or when its first call
    has not finished."""
    key = check_key(key)
    row = _stored(user_id, key)
    if row is not None:
        return Begun(replay=_answer(row, fingerprint_))
    row = IdempotencyKey(user_id=user_id, key=key, fingerprint=fingerprint_,
                         **({"created_at": now} if now else {}))
    try:
        # PostgreSQL: an insert racing another transaction's uncommitted insert of the same
        # key waits for it, then fails here once it committed; its answer is then visible.
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        row = _stored(user_id, key)
        if row is None:  # the other call failed and rolled back meanwhile: not a replay
            raise Conflict(_l("A request with this %(header)s was being processed at the same "
                              "moment; retry.", header=HEADER),
                           {HEADER: [_l("is still being processed")]}) from None
        return Begun(replay=_answer(row, fingerprint_))
    return Begun(row=row)


def remember(row: IdempotencyKey, status_code: int, body: str) -> None:
    """Store the answer with the key, in the same transaction as the action it answers."""
    row.status_code = status_code
    row.response_body = body
    db.session.flush()


def max_age_days() -> int:
    if has_app_context():
        return int(current_app.config.get("IDEMPOTENCY_KEY_MAX_AGE_DAYS", DEFAULT_MAX_AGE_DAYS))
    return DEFAULT_MAX_AGE_DAYS


def forget_older_than(cutoff: datetime) -> int:
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return result.rowcount or 0


@job("idempotency.forget_old")
def forget_old_job(now: datetime) -> int:
    """Keys older than IDEMPOTENCY_KEY_MAX_AGE_DAYS are forgotten: a retry that late is a
    new request."""
    return forget_older_than(now - timedelta(days=max_age_days()))
