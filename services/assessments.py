"""Self-assessment against the checklist: versioned answers, the gap report, compliance.

An assessment is a draft until completed; the latest complete version is the one that
counts, and it sets the outlet's `compliant` flag (every applicable item passes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from app.models import Assessment, Outlet, OutletStatus
from app.models.types import utcnow
from services import audit, checklist, permissions
from services.audit import Actor
from services.errors import ValidationFailed

RESULTS = ("pass", "fail", "na")


# --- pure evaluation ----------------------------------------------------------------------

def evaluate(items: list[dict], answers: dict) -> tuple[bool, dict]:
    """(passed, category_results) for answers {number: {"result"}} over checklist items.

    `items` are dicts with "number" and "category". An item marked "na" does not count; the
    outlet passes when every applicable item passes.
    """
    results: dict[str, dict] = {}
    for item in items:
        category = results.setdefault(item["category"], {"applicable": 0, "passed": 0, "failed": []})
        result = (answers.get(str(item["number"])) or {}).get("result")
        if result == "na":
            continue
        category["applicable"] += 1
        if result == "pass":
            category["passed"] += 1
        else:
            category["failed"].append(item["number"])
    passed = all(not c["failed"] for c in results.values())
    return passed, results


def missing_answers(items: list[dict], answers: dict) -> list[int]:
    return [i["number"] for i in items
            if (answers.get(str(i["number"])) or {}).get("result") not in RESULTS]


def _item_dicts(version: str) -> list[dict]:
    return [{"number": i.number, "category": i.category} for i in checklist.items(version)]


# --- versions -----------------------------------------------------------------------------

def latest(outlet: Outlet, *, complete_only: bool = False) -> Assessment | None:
    query = select(Assessment).where(Assessment.outlet_id == outlet.id)
    if complete_only:
        query = query.where(Assessment.completed_at.is_not(None))
    return db.session.execute(query.order_by(Assessment.version.desc()).limit(1)).scalar_one_or_none()


def history(outlet: Outlet) -> list[Assessment]:
    return list(db.session.execute(
        select(Assessment).where(Assessment.outlet_id == outlet.id)
        .order_by(Assessment.version.desc())).scalars())


def _clean_answers(raw: dict, numbers: set[int]) -> tuple[dict, dict]:
    answers, errors = {}, {}
    if not isinstance(raw, dict):
        return {}, {"answers": [_l("must map item numbers to answers")]}
    for key, value in raw.items():
        try:
            number = int(key)
        except (TypeError, ValueError):
            errors[str(key)] = [_l("is not a checklist item number")]
            continue
        if number not in numbers:
            errors[str(key)] = [_l("is not a checklist item number")]
            continue
        if isinstance(value, str):
            value = {"result": value}
        result = (value or {}).get("result")
        note = ((value or {}).get("note") or "").strip()
        if result not in RESULTS:
            errors[str(number)] = [_l("result must be pass, fail or na")]
        elif len(note) > 2000:
            errors[str(number)] = [_l("note: at most %(n)s characters", n=2000)]
        else:
            answers[str(number)] = {"result": result, "note": note}
    return answers, errors


def save(actor: Actor, outlet: Outlet, raw_answers: dict, *, complete: bool) -> Assessment:
    """Record answers on the open draft (or a new version), optionally completing it.

    A completed version is never edited: the next save starts a new version seeded with it.
    """
    permissions.require(actor.user, "outlets.manage", outlet.provider)
    version = checklist.current_version()
    items = _item_dicts(version)
    answers, errors = _clean_answers(raw_answers, {i["number"] for i in items})
    if errors:
        raise ValidationFailed(_l("Some answers need correcting."), {"answers": errors})
    audit.serialize_writes()
    current = latest(outlet)
    if current is None or current.completed_at is not None:
        number = (db.session.execute(select(func.max(Assessment.version))
                                     .where(Assessment.outlet_id == outlet.id)).scalar() or 0) + 1
        seed = dict(current.answers) if current is not None else {}
        current = Assessment(outlet_id=outlet.id, version=number, checklist_version=version,
                             answers=seed, created_by_id=actor.user_id)
        db.session.add(current)
    merged = {**current.answers, **answers}
    current.answers = merged
    if complete:
        missing = missing_answers(items, merged)
        if missing:
            raise ValidationFailed(
                _l("Answer every item before completing the assessment."),
                {"answers": {str(n): [_l("needs an answer: pass, fail or na")] for n in missing}})
        current.passed, current.category_results = evaluate(items, merged)
        current.completed_at = utcnow()
    db.session.flush()
    if complete:
        _apply_result(actor, outlet, current)
    return current


def _apply_result(actor: Actor, outlet: Outlet, assessment: Assessment) -> None:
    outlet.compliant = bool(assessment.passed)
    failed = sorted(n for c in assessment.category_results.values() for n in c["failed"])
    audit.record(actor, "assessment.completed", "outlet", outlet.id,
                 organization_id=outlet.provider_id,
                 data={"version": assessment.version, "passed": assessment.passed, "failed": failed})
    # A listed outlet that no longer passes leaves the pool until it is fixed.
    if outlet.status is OutletStatus.LISTED and not assessment.passed:
        outlet.status = OutletStatus.SUSPENDED
        db.session.flush()
        audit.record(actor, "outlet.suspended", "outlet", outlet.id,
                     organization_id=outlet.provider_id,
                     data={"from": "listed", "to": "suspended",
                           "reason": "self-assessment no longer passes"})


# --- gap report ---------------------------------------------------------------------------

@dataclass
class CategoryGaps:
    code: str
    name_zh: str
    name_en: str
    applicable: int
    passed: int
    failing: list = field(default_factory=list)  # ChecklistItem rows
    unanswered: list = field(default_factory=list)

    @property
    def share_passed(self) -> float | None:
        return None if not self.applicable else self.passed / self.applicable


@dataclass
class GapReport:
    assessment: Assessment | None
    categories: list[CategoryGaps]

    @property
    def compliant(self) -> bool:
        return bool(self.assessment and self.assessment.passed)

    @property
    def failing_count(self) -> int:
        return sum(len(c.failing) for c in self.categories)


def gap_report(outlet: Outlet) -> GapReport:
    """Failing items grouped by category, with what to fix, from the latest assessment.

    The latest complete version counts; a newer draft shows as work in progress elsewhere.
    """
    return _report(latest(outlet, complete_only=True) or latest(outlet))


def gap_reports(outlets: list[Outlet]) -> dict[int, GapReport]:
    """gap_report of each outlet by its id, from one query and each checklist version read
    once: a page of a provider's list."""
    chosen: dict[int, Assessment] = {}
    for assessment in db.session.execute(
            select(Assessment).where(Assessment.outlet_id.in_([o.id for o in outlets]))
            .order_by(Assessment.outlet_id, Assessment.version.desc())).scalars():
        current = chosen.get(assessment.outlet_id)
        if current is None or (current.completed_at is None and assessment.completed_at is not None):
            chosen[assessment.outlet_id] = assessment
    versions: dict[str | None, tuple] = {}
    return {o.id: _report(chosen.get(o.id), versions) for o in outlets}


def _report(assessment: Assessment | None, versions: dict | None = None) -> GapReport:
    answers = assessment.answers if assessment else {}
    version = assessment.checklist_version if assessment else checklist.current_version()
    versions = {} if versions is None else versions
    if version not in versions:
        versions[version] = (checklist.categories(version), checklist.items(version))
    categories, items = versions[version]
    report = []
    for category in categories:
        gaps = CategoryGaps(category.code, category.name_zh, category.name_en, 0, 0)
        for item in (i for i in items if i.category == category.code):
            result = (answers.get(str(item.number)) or {}).get("result")
            if result == "na":
                continue
            gaps.applicable += 1
            if result == "pass":
                gaps.passed += 1
            elif result == "fail":
                gaps.failing.append(item)
            else:
                gaps.unanswered.append(item)
        report.append(gaps)
    return GapReport(assessment, report)

