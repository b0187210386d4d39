"""National statistics of the outlet registry, as the survey reports them (Figures 1-3, Table 1).

What counts: every outlet in the registry that is not delisted — drafts (for instance rows of
the regulator's national list imported by an operator, or outlets whose self-assessment does
not pass yet), listed and suspended outlets alike. The survey counts every filed outlet, not
only compliant ones, so the registry is the comparable population; `listed` is reported apart.

Compliance comes from each outlet's latest *complete* self-assessment. Rates are given two
ways because the survey's figures only agree with each other that way: the share of assessed
outlets failing a category, and the share among non-compliant outlets (see SURVEY_2022).

Everything is aggregated in SQL; for the per-category figures only the `category_results`
column of failing assessments is read. Pure of Flask request state; returns plain values.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, select

from app.extensions import db
from app.models import Assessment, Establishment, Organization, Outlet, OutletStatus
from services import certificates, checklist, divisions
from services.errors import ValidationFailed

TOP_PROVINCES = 10
TOP_PROVIDERS = 20

# The survey's own figures (reference/outlet-survey-paper.txt, section 2 and 3; Sept 2022).
# Note its rounding: 6,116 / 10,257 is 59.63 % (it prints 59.70 %) and 2,566 / 10,257 is
# 25.02 % (it prints 25.1 %). The category failure shares (79 / 83 / 58 %) come from 32 outlets
# of which 25 % were compliant: taken over all 32 they would cap compliance at 21 %, so they
# are read as shares of the non-compliant outlets.
SURVEY_2022 = {
    "as_of": "2022-09",
    "total_outlets": 10257,
    "provinces_covered": 31,
    "prefecture_regions_covered": 326,
    "top_province": {"province": "440000", "count": 1062},
    "top10_provinces": {"count": 6116, "share": 0.597},
    "co_built": {"count": 2566, "share": 0.251},
    "top20_providers": {"count": 8811, "share": 0.859},
    "manufacturers": 150,
    "utilization_firms": 30,
    "compliance_rate": 0.25,
    "category_fail_share_noncompliant": {"working_environment": 0.79, "facilities": 0.83,
                                         "systems_processes": 0.58},
}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _filters(province: str | None) -> list:
    conditions = [Outlet.status != OutletStatus.DELISTED]
    if province:
        conditions.append(Outlet.province_code == province)
    return conditions


def check_province(province: str | None) -> str | None:
    if not province:
        return None
    ref = divisions.index().get(province)
    if ref is None or ref.level != "province":
        raise ValidationFailed(_l("Unknown province."),
                               {"province": [_l("is not a province code, e.g. 440000")]})
    return province


def national(province: str | None = None) -> dict:
    """The registry's figures; narrowed to one province when `province` (adcode) is given."""
    province = check_province(province)
    where = _filters(province)
    index = divisions.index()

    def count(*extra) -> int:
        return db.session.execute(select(func.count(Outlet.id)).where(*where, *extra)).scalar_one()

    total = count()
    by_province_rows = db.session.execute(
        select(Outlet.province_code, func.count(Outlet.id)).where(*where)
        .group_by(Outlet.province_code)).all()
    by_province = sorted(
        ({"province": code, "name": _name(index, code), "count": n, "share": _share(n, total)}
         for code, n in by_province_rows),
        key=lambda r: (-r["count"], r["province"]))
    top10 = by_province[:TOP_PROVINCES]
    top10_count = sum(r["count"] for r in top10)

    counts_by = {}
    for column in (Outlet.establishment, Outlet.type, Outlet.status):
        rows = db.session.execute(select(column, func.count(Outlet.id)).where(*where)
                                  .group_by(column)).all()
        counts_by[column.key] = {getattr(k, "value", k): n for k, n in rows}
    co_built = counts_by["establishment"].get(Establishment.CO_BUILT.value, 0)

    coverage = db.session.execute(
        select(func.count(func.distinct(Outlet.city_code)),
               func.count(func.distinct(Outlet.province_code))).where(*where)).one()

    result = {
        "scope": {"province": province, "name": _name(index, province) if province else None,
                  "counts": "outlets not delisted (draft, listed, suspended)"},
        "total_outlets": total,
        "listed_outlets": counts_by["status"].get(OutletStatus.LISTED.value, 0),
        "by_status": counts_by["status"],
        "by_type": counts_by["type"],
        "by_establishment": {k: {"count": n, "share": _share(n, total)}
                             for k, n in counts_by["establishment"].items()},
        "by_province": by_province,
        "by_region": _by_region(by_province, total),
        "top10_provinces": {"count": top10_count, "share": _share(top10_count, total),
                            "provinces": top10},
        "co_built": {"count": co_built, "share": _share(co_built, total)},
        "prefecture_regions_covered": coverage[0],
        "provinces_covered": coverage[1],
        "prefecture_regions_total": sum(1 for r in index.by_code.values() if r.level == "prefecture"),
        "provinces_total": sum(1 for r in index.by_code.values() if r.level == "province"),
        **_providers(where, total),
        **_compliance(where),
        "certified": certificates.certified_by_province(province),
        "survey_2022": SURVEY_2022,
    }
    if province:
        result["by_prefecture"] = _by_prefecture(where, index, total)
    return result


def _name(index: divisions.DivisionIndex, code: str | None) -> str:
    ref = index.get(code) if code else None
    return ref.name if ref else (code or "")


def _by_region(by_province: list[dict], total: int) -> list[dict]:
    regions = [{"region": r.code, "name_zh": r.name_zh, "name_en": r.name_en,
                "province_codes": list(r.province_codes)} for r in divisions.regions()]
    return region_counts({r["province"]: r["count"] for r in by_province}, regions, total)


def region_counts(province_counts: dict[str, int], regions: list[dict], total: int) -> list[dict]:
    """Pure: outlets and share per region (regions carry their province codes)."""
    result = []
    for region in regions:
        n = sum(province_counts.get(code, 0) for code in region["province_codes"])
        result.append({"region": region["region"], "name_zh": region["name_zh"],
                       "name_en": region["name_en"], "count": n, "share": _share(n, total)})
    return result


def _by_prefecture(where: list, index: divisions.DivisionIndex, total: int) -> list[dict]:
    rows = db.session.execute(select(Outlet.city_code, func.count(Outlet.id)).where(*where)
                              .group_by(Outlet.city_code)).all()
    return sorted(({"prefecture": code, "name": _name(index, code), "count": n,
                    "share": _share(n, total)} for code, n in rows),
                  key=lambda r: (-r["count"], r["prefecture"]))


def _providers(where: list, total: int) -> dict:
    rows = db.session.execute(
        select(Outlet.provider_id, func.count(Outlet.id).label("n")).where(*where)
        .group_by(Outlet.provider_id).order_by(func.count(Outlet.id).desc(), Outlet.provider_id)).all()
    top = rows[:TOP_PROVIDERS]
    organizations = {o.id: o for o in db.session.execute(
        select(Organization.id, Organization.legal_name, Organization.provider_type)
        .where(Organization.id.in_([r[0] for r in top] or [0])))}
    type_rows = db.session.execute(
        select(Organization.provider_type, func.count(func.distinct(Outlet.provider_id)),
               func.count(Outlet.id))
        .join(Organization, Organization.id == Outlet.provider_id).where(*where)
        .group_by(Organization.provider_type)).all()
    top_count = sum(n for _id, n in top)
    return {
        "providers_total": len(rows),
        "providers_by_type": {getattr(t, "value", t) or "other": {"providers": p, "outlets": n}
                              for t, p, n in type_rows},
        "top20_providers": {
            "count": top_count, "share": _share(top_count, total),
            "providers": [{"provider_id": pid, "name": organizations[pid].legal_name,
                           "provider_type": getattr(organizations[pid].provider_type, "value", None),
                           "count": n, "share": _share(n, total)} for pid, n in top],
        },
    }


def _compliance(where: list) -> dict:
    latest = (select(Assessment.outlet_id, func.max(Assessment.version).label("version"))
              .where(Assessment.completed_at.is_not(None))
              .group_by(Assessment.outlet_id).subquery())
    joined = (select(Assessment)
              .join(latest, and_(Assessment.outlet_id == latest.c.outlet_id,
                                 Assessment.version == latest.c.version))
              .join(Outlet, Outlet.id == Assessment.outlet_id).where(*where))
    counts = db.session.execute(
        joined.with_only_columns(func.count(Assessment.id),
                                 func.count(Assessment.id).filter(Assessment.passed.is_(True)))
    ).one()
    assessed, compliant = counts
    failed_by_category: dict[str, int] = {}
    # Only failing assessments can fail a category; read just their per-category column.
    for (results,) in db.session.execute(
            joined.with_only_columns(Assessment.category_results)
            .where(Assessment.passed.is_not(True))):
        for code in failed_categories(results):
            failed_by_category[code] = failed_by_category.get(code, 0) + 1
    known = [(c.code, c.name_zh, c.name_en) for c in checklist.categories()]
    return {
        "assessed_outlets": assessed,
        "compliant_outlets": compliant,
        "compliance_rate": _share(compliant, assessed),
        "compliance_by_category": category_shares(failed_by_category, known, assessed, compliant),
    }


def failed_categories(category_results: dict | None) -> list[str]:
    """Pure: the categories an assessment's per-category results fail."""
    return [code for code, result in (category_results or {}).items() if result.get("failed")]


def category_shares(failed_by_category: dict[str, int], categories: list[tuple[str, str, str]],
                    assessed: int, compliant: int) -> list[dict]:
    """Pure: per category, the failing share of all assessed and of the non-compliant outlets.

    `categories` are (code, name_zh, name_en) of the checklist in force, in order; categories
    only older assessments use are appended by code.
    """
    non_compliant = assessed - compliant
    remaining = dict(failed_by_category)
    rows = [(code, zh, en, remaining.pop(code, 0)) for code, zh, en in categories]
    rows += [(code, code, code, n) for code, n in sorted(remaining.items())]
    return [_category(code, zh, en, n, assessed, non_compliant) for code, zh, en, n in rows]


def _category(code: str, name_zh: str, name_en: str, failed: int, assessed: int,
              non_compliant: int) -> dict:
    return {"category": code, "name_zh": name_zh, "name_en": name_en, "failed": failed,
            "fail_share": _share(failed, assessed),
            "fail_share_noncompliant": _share(failed, non_compliant),
            "survey_fail_share_noncompliant":
                SURVEY_2022["category_fail_share_noncompliant"].get(code)}
