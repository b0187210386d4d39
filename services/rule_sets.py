"""Versioned, effective-dated rule sets: which one governs a given date."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select

from app.extensions import db
from app.models import RuleSet
from services.errors import NotFound


class NoRuleSetInForce(NotFound):
    def __init__(self, on: date):
        super().__init__("rule set in force on", on.isoformat())
        self.message = (f"no rule set is in force on {on.isoformat()}; "
                        "load the reference data or add a rule set covering that date")
        self.args = (self.message,)


def all_rule_sets() -> list[RuleSet]:
    return list(db.session.scalars(
        select(RuleSet).order_by(RuleSet.effective_from, RuleSet.code, RuleSet.version)))


def get(code: str, version: str | None = None) -> RuleSet | None:
    """A rule set by code; its latest version unless one is named."""
    stmt = select(RuleSet).where(RuleSet.code == code)
    if version is not None:
        stmt = stmt.where(RuleSet.version == version)
    return db.session.scalars(
        stmt.order_by(RuleSet.effective_from.desc(), RuleSet.version.desc()).limit(1)).first()


def in_force(on: date) -> RuleSet:
    """The rule set governing `on` (the latest-starting one if ranges ever overlap)."""
    rule_set = db.session.scalars(
        select(RuleSet)
        .where(RuleSet.effective_from <= on,
               or_(RuleSet.effective_to.is_(None), RuleSet.effective_to >= on))
        .order_by(RuleSet.effective_from.desc()).limit(1)).first()
    if rule_set is None:
        raise NoRuleSetInForce(on)
    return rule_set
