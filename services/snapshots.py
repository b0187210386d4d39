"""Rows kept in a versioned cache and turned back into the session's ORM objects.

A cached answer must be plain data (it is shared by every request and pickled into the shared
cache), but some readers want the ORM objects a query would have given: the signed-in user,
whose memberships and organizations every view and template walks, and which a view may change
and commit. `values_of` keeps an object's loaded columns; `attach` rebuilds the object in the
current session as if a query had just loaded it (persistent, no pending changes), without a
round trip. Columns left out (a password hash has no place in a cache) are expired, so reading
one loads it from the database.
"""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from sqlalchemy import Column, inspect
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db

M = TypeVar("M")


def values_of(obj: Any, *, leave_out: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The object's mapped columns (not query expressions), as loaded."""
    mapper = inspect(type(obj))
    return {column.key: getattr(obj, column.key) for column in mapper.column_attrs
            if column.key not in leave_out and isinstance(column.expression, Column)}


def attach(cls: type[M], values: dict[str, Any]) -> M:
    """The session's object for `values` (a values_of of it): the one already in its identity
    map if a query of this request loaded it, else a new persistent one with those values."""
    session = db.session()
    mapper = inspect(cls)
    key = mapper.identity_key_from_primary_key([values[c.key] for c in mapper.primary_key])
    existing = session.identity_map.get(key)
    if existing is not None:
        return existing
    obj = mapper.class_manager.new_instance()
    for name, value in values.items():
        # `values` is shared with every other request: a JSON column gets a copy of its own
        set_committed_value(obj, name, copy.deepcopy(value) if isinstance(value, dict | list) else value)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


def set_loaded(obj: Any, name: str, value: Any) -> None:
    """Set an attribute (a relationship, a query expression) as if loaded, with no history;
    left as it is when a query of this request loaded it already."""
    if name not in inspect(obj).unloaded:
        return
    set_committed_value(obj, name, value)
