"""The outlet compliance checklist (the survey's 24 items), versioned and effective-dated."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from app.extensions import db
from app.models import ChecklistCategory, ChecklistItem
from app.models.types import utcnow


def current_version(on: date | None = None) -> str | None:
    """The checklist version in effect on `on` (today by default), None if none is loaded."""
    on = on or utcnow().date()
    return db.session.scalars(
        select(ChecklistItem.checklist_version)
        .where(ChecklistItem.effective_from <= on)
        .order_by(ChecklistItem.effective_from.desc(), ChecklistItem.checklist_version.desc())
        .limit(1)).first()


def categories(version: str | None = None) -> list[ChecklistCategory]:
    version = version or current_version()
    return list(db.session.scalars(
        select(ChecklistCategory).where(ChecklistCategory.checklist_version == version)
        .order_by(ChecklistCategory.position)))


def items(version: str | None = None, category: str | None = None) -> list[ChecklistItem]:
    version = version or current_version()
    stmt = select(ChecklistItem).where(ChecklistItem.checklist_version == version)
    if category is not None:
        stmt = stmt.where(ChecklistItem.category == category)
    return list(db.session.scalars(
        stmt.order_by(ChecklistItem.category_position, ChecklistItem.number)))
