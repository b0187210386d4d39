"""Versioned read caches: answers computed from a scope of tables, kept until a write to any
of those tables commits: per process (an LRU of DATA_CACHE_ENTRIES), and with REDIS_URL also
shared by every process (services.shared_cache).

Each scope has a row in `data_versions` whose token changes in the same transaction as every
write to its tables, so one read of that small table tells a process whether what it kept is
current, on SQLite as on PostgreSQL and across any number of app servers. Writes are seen
however they are made through the session: ORM objects (flushed) and INSERT/UPDATE/DELETE
constructs; raw `text()` SQL is not parsed, so writes to these tables must not be made that way.

The bump happens in `before_commit`, after the transaction's last flush: the version row is the
last lock a writing transaction takes, so it cannot join a deadlock cycle, and it is held only
while the commit itself runs. A transaction that has written to a scope reads it uncached.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from flask import current_app
from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import DataVersion
from services import shared_cache

# scope -> the tables its cached answers are computed from
SCOPES: dict[str, frozenset[str]] = {
    "pool": frozenset({"outlets", "organizations", "capacity_offers", "assessments", "divisions",
                       "checklist_categories", "checklist_items", "certificates"}),
    "obligations": frozenset({"sales_records", "allocations", "agreements", "agreement_versions",
                              "outlets", "rule_sets", "divisions"}),
    # where each maker stands at each outlet: services.capacity_requests.standing_at
    "contracts": frozenset({"capacity_requests", "allocations", "agreements"}),
    # who is signed in: services.accounts.signed_in_user and user_for_token
    "accounts": frozenset({"users", "memberships", "organizations", "api_tokens", "notifications"}),
}
_TOUCHED = "data_versions.touched"
_SEEN = "data_versions.seen"  # scope -> token, read once per session transaction
# Every scope's token in one statement (a handful of rows), on the session's own connection in
# Core: a signed-in page needs two or three of them, and each read was a round trip; the ORM's
# path through the session costs four times as much for the same rows.
_ALL_TOKENS = select(DataVersion.__table__.c.scope, DataVersion.__table__.c.token)
T = TypeVar("T")


# Columns that only some of their table's scopes read: a change to a row that touches nothing
# else bumps only those. A maker's dashboard copy of its co-building saving is shown from the
# signed-in user (accounts); no pool answer reads it, and bumping the pool on each new copy
# threw away every search kept, the saving just solved (seconds of HiGHS) among them.
NARROW_COLUMNS: dict[tuple[str, str], frozenset[str]] = {
    ("organizations", "cobuilding_saving"): frozenset({"accounts"}),
}


def _scopes_of(table_name: str | None) -> set[str]:
    return {scope for scope, tables in SCOPES.items() if table_name in tables}


def _scopes_of_change(obj: Any) -> set[str]:
    """What a changed row's write invalidates: its table's scopes, or fewer when every changed
    column is a narrow one. Called in after_flush, where attribute history still holds."""
    table = _table_of(obj)
    state = inspect(obj)
    if not state.persistent or state.deleted:
        return _scopes_of(table)
    changed = [attr.key for attr in state.attrs if attr.history.has_changes()]
    if changed and all((table, key) in NARROW_COLUMNS for key in changed):
        return set().union(*(NARROW_COLUMNS[table, key] for key in changed))
    return _scopes_of(table)


def _table_of(obj: Any) -> str | None:
    return getattr(type(obj), "__tablename__", None)


def _mark(session: Session, scopes: set[str]) -> None:
    if scopes:
        session.info.setdefault(_TOUCHED, set()).update(scopes)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    changed = [*session.new, *session.deleted,
               *(o for o in session.dirty if session.is_modified(o, include_collections=False))]
    for obj in changed:
        _mark(session, _scopes_of_change(obj))


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        _mark(state.session, _scopes_of(getattr(table, "name", None)))


@event.listens_for(Session, "before_commit")
def _bump_touched_scopes(session: Session) -> None:
    if session.in_nested_transaction():
        return  # releasing a savepoint: the bump waits for the real commit, to lock last
    session.flush()  # commit would flush next; flushing first marks every write before the bump
    for scope in sorted(session.info.pop(_TOUCHED, ())):
        session.execute(update(DataVersion).where(DataVersion.scope == scope)
                        .values(token=secrets.randbits(62)),
                        execution_options={"synchronize_session": False})


@event.listens_for(Session, "after_transaction_end")
def _forget_marks(session: Session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction ended: its writes are gone or bumped
        session.info.pop(_TOUCHED, None)
        session.info.pop(_SEEN, None)


def token(scope: str) -> int | None:
    """The scope's current token; None when this transaction has written to the scope (its own
    uncommitted writes are not what the token stands for) or the row is missing."""
    session = db.session()
    if scope in session.info.get(_TOUCHED, ()):
        return None
    pending = (*session.new, *session.dirty, *session.deleted)
    if any(_table_of(obj) in SCOPES[scope] for obj in pending):
        return None
    # One read per request: a page's several cached parts answer from the same versions, and
    # another look would be another round trip to the database.
    seen = session.info.get(_SEEN)
    if seen is None:
        seen = session.info[_SEEN] = dict(session.connection().execute(_ALL_TOKENS).all())
    return seen.get(scope)


class _Lru:
    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any, limit: int) -> None:
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > limit:
                self._entries.popitem(last=False)


_cache = _Lru()


def cached(scope: str | tuple[str, ...], key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, or what it returned before for `key` while the scope (or every one of a
    tuple of scopes, for an answer read from several) has not changed.

    Callers must treat the answer as read-only: it is shared by every request of the process.
    DATA_CACHE_ENTRIES bounds the entries per process; 0 turns caching off, shared level too.
    """
    limit = current_app.config["DATA_CACHE_ENTRIES"]
    if not limit:
        return compute()
    current = tuple(token(s) for s in ((scope,) if isinstance(scope, str) else scope))
    if None in current:
        return compute()
    full_key = (scope, current, key)
    value = _cache.get(full_key)
    if value is None:
        value = shared_cache.get(full_key)
        if value is shared_cache.MISSING:
            value = compute()
            shared_cache.put(full_key, value)
        _cache.put(full_key, value, limit)
    return value

