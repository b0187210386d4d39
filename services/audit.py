"""The append-only audit log, chained by SHA-256 so any altered or deleted row shows.

Every service records its state changes here, last, inside the caller's transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditEvent
from app.models.types import utcnow
from services import paging, permissions

GENESIS_HASH = "0" * 64
# Any constant works; it names the PostgreSQL advisory lock that serializes appends.
_CHAIN_LOCK_KEY = 0x0A0D17


@dataclass(frozen=True)
class Actor:
    """Who is acting, for permission checks and for the audit trail."""

    user: object | None = None  # app.models.User; None for the system (tick, CLI)
    ip: str | None = None
    label: str | None = None  # for system actors, e.g. "cli:create-operator"

    @property
    def user_id(self) -> int | None:
        return getattr(self.user, "id", None)

    @property
    def display(self) -> str:
        if self.user is not None:
            return self.user.email
        return self.label or "system"


SYSTEM = Actor(label="system")


def canonical_payload(fields: dict) -> bytes:
    """The exact bytes hashed for a row: sorted keys, no whitespace, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def compute_hash(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_payload(fields)).hexdigest()


def _fields(event: AuditEvent) -> dict:
    occurred: datetime = event.occurred_at
    return {
        "occurred_at": occurred.isoformat(timespec="microseconds"),
        "actor_user_id": event.actor_user_id,
        "actor_label": event.actor_label,
        "organization_id": event.organization_id,
        "action": event.action,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "data": event.data or {},
        "ip_address": event.ip_address,
    }


def serialize_writes() -> None:
    """Queue behind other audited writers (PostgreSQL advisory lock, held until commit).

    Every audited transaction takes this lock when it records; a service that changes rows
    another audited writer also changes (outlets, certificates, applications) takes it
    first, before any row lock, so the two queue instead of deadlocking, and what it reads
    is what the previous writer committed. Re-entrant; a no-op on SQLite, whose writers are
    serialized already.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})


def record(actor: Actor, action: str, subject_type: str, subject_id: object = None, *,
           organization_id: int | None = None, data: dict | None = None) -> AuditEvent:
    """Append one event to the chain (flushes; the caller's commit makes it durable)."""
    session = db.session
    serialize_writes()  # so each appender reads the true head of the chain
    head = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    event = AuditEvent(
        occurred_at=utcnow(),
        actor_user_id=actor.user_id,
        actor_label=actor.display,
        organization_id=organization_id,
        action=action,
        subject_type=subject_type,
        subject_id=None if subject_id is None else str(subject_id),
        data=json.loads(canonical_payload(data or {})),
        ip_address=actor.ip,
        prev_hash=head or GENESIS_HASH,
    )
    event.hash = compute_hash(event.prev_hash, _fields(event))
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class BrokenLink:
    event_id: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_rows(rows: Iterator[AuditEvent]) -> ChainReport:
    """Walk rows in id order; report the first row whose link or content does not hold."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in rows:
        checked += 1
        if event.prev_hash != expected_prev:
            return ChainReport(checked, BrokenLink(
                event.id, "previous-hash link broken: a row before it was deleted or altered"))
        if compute_hash(event.prev_hash, _fields(event)) != event.hash:
            return ChainReport(checked, BrokenLink(
                event.id, "content does not match its hash: this row was altered"))
        expected_prev = event.hash
    return ChainReport(checked, None)


def verify_chain(batch_size: int = 2000) -> ChainReport:
    rows = db.session.execute(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch_size)
    ).scalars()
    return verify_rows(rows)


def browse(actor: Actor, *, action: str | None = None, organization_id: int | None = None,
           page: int = 1, per_page: int = 50) -> tuple[list[AuditEvent], int]:
    """Newest first; operators only."""
    permissions.require_operator(actor.user, "audit.browse")
    query = select(AuditEvent)
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    if organization_id:
        query = query.where(AuditEvent.organization_id == organization_id)
    return paging.page_of(query, AuditEvent.id.desc(), page=page, per_page=per_page)
