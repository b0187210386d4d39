"""Each maker's outlet filing (回收服务网点信息申报表): snapshot, checks, versions, submission,
change filings and the change filings found due.

What a maker files: one row per outlet it relies on. In this model outlets belong to provider
organizations and a maker relies on an outlet through an allocation under a co-building
agreement (form co_built -> 共建, authorized -> 授权, shared_use -> 共建); an outlet run by the
maker itself would be 自建, but organizations of kind manufacturer cannot own outlets yet, so
every row today comes from an agreement.

Checks before generation (nothing disappears silently): an outlet whose agreement counts on the
filing date is filed unless it is not compliant, not listed, or holds no valid certificate
(having had one) - those are left out and listed with the reason; so are agreements that ended
since the last submitted version (or within `ended_lookback_days`), signed ones not started, and
ones still awaiting signatures. Obligations the filed rows leave uncovered are listed on the
cover sheet. The layout (headers, widths, labels, reasons, checks) is data:
services/data/filing_layout.json.

Versions: every generation is stored with its snapshot and each file's SHA-256; a maker marks
one submitted. "Change filing due" is found by a tick job comparing the data as it stands with
the last submitted version (no hooks in contracting, outlets or certification: whatever changed
it, an agreement starting or ending, an outlet moving or changing type, a certificate lapsing,
shows up in the comparison), with a deadline of FILING_CHANGE_WORKING_DAYS working days on the
holiday calendar (services/working_days.py).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (
    Agreement,
    Allocation,
    AllocationStatus,
    Certificate,
    Filing,
    FilingChangeDue,
    FilingFile,
    FilingStatus,
    Organization,
    OrgKind,
    Outlet,
    OutletStatus,
)
from app.models.types import utcnow
from services import audit, divisions, filing_documents, notifications, permissions, working_days
from services.audit import Actor
from services.certifiers import CHINA, china_today
from services.errors import Conflict, NotFound, ValidationFailed
from services.tick import job

DATA_DIR = Path(__file__).resolve().parent / "data"
SUBJECT = "filing"
FORMATS = ("xlsx", "csv", "pdf", "json")
DEFAULTS = {"FILING_CHANGE_WORKING_DAYS": 30}
REFERENCE_MAX = 100
TICK = Actor(label="tick")
REASON_LABELS = {
    "not_compliant": _l("The outlet fails its compliance self-assessment"),
    "outlet_not_listed": _l("The outlet is suspended or delisted"),
    "certificate_not_valid": _l("The outlet's certificate is not valid"),
    "no_certificate": _l("The outlet has no valid certificate"),
    "agreement_ended": _l("The agreement has ended"),
    "agreement_not_in_force": _l("The agreement still awaits signatures"),
    "agreement_not_started": _l("The agreement has not started yet"),
}


def setting(name: str) -> int:
    if has_app_context():
        return int(current_app.config.get(name, DEFAULTS[name]))
    return DEFAULTS[name]


@cache
def layout(name: str = "filing_layout") -> dict:
    return json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))


def place_names(outlet: Outlet) -> dict:
    index = divisions.index()

    def name(code):
        ref = index.get(code) if code else None
        return ref.name if ref else (code or "")

    return {"province": name(outlet.province_code), "city": name(outlet.city_code),
            "district": name(outlet.district_code)}


def _number(value: float | None):
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(float(value), 3)


# --- the snapshot -----------------------------------------------------------------------------

def _allocations_of(maker_id: int) -> list[Allocation]:
    return list(db.session.execute(
        select(Allocation).where(
            Allocation.manufacturer_id == maker_id,
            Allocation.status.in_((AllocationStatus.PENDING, AllocationStatus.ACTIVE,
                                   AllocationStatus.EXPIRED, AllocationStatus.TERMINATED)))
        .options(selectinload(Allocation.agreement).selectinload(Agreement.outlet),
                 selectinload(Allocation.agreement).selectinload(Agreement.provider))
        .order_by(Allocation.start_date, Allocation.id)).scalars())


def _certificates_of(outlet_ids: list[int]) -> dict[int, list[Certificate]]:
    found: dict[int, list[Certificate]] = defaultdict(list)
    for start in range(0, len(outlet_ids), 900):
        for certificate in db.session.execute(select(Certificate).where(
                Certificate.outlet_id.in_(outlet_ids[start:start + 900]))
                .order_by(Certificate.expires_on.desc(), Certificate.id.desc())).scalars():
            found[certificate.outlet_id].append(certificate)
    return found


def _reason_text(codes: list[tuple[str, dict]], spec: dict) -> str:
    return "；".join(spec["reasons"][code] % params for code, params in codes)


def _values(maker: Organization, allocation: Allocation, certificate: Certificate | None,
            spec: dict) -> dict:
    agreement = allocation.agreement
    outlet, provider = agreement.outlet, agreement.provider
    labels = spec["labels"]
    form = allocation.form.value
    if outlet.provider_id == maker.id and outlet.establishment.value == "self_built":
        form = "self_built"
    partners = [] if form == "self_built" else [provider.legal_name]
    if outlet.established_with and outlet.established_with not in partners:
        partners.append(outlet.established_with)
    return {
        "maker_name": maker.legal_name, "maker_credit_code": maker.credit_code,
        "outlet_name": outlet.name, **place_names(outlet), "address": outlet.address,
        "outlet_type": labels["outlet_type"].get(outlet.type.value, outlet.type.value),
        "establishment": labels["establishment"].get(form, form),
        "partners": labels["partner_separator"].join(partners),
        "partner_credit_codes": "" if form == "self_built" else provider.credit_code,
        "contact_name": outlet.contact_name or "", "contact_phone": outlet.contact_phone or "",
        "storage_area_m2": _number(outlet.storage_area_m2),
        "storage_capacity_t": _number(outlet.max_stored_weight_t),
        "certificate_number": certificate.number if certificate else "",
        "certificate_valid_until": certificate.expires_on.isoformat() if certificate else "",
        "agreement_number": agreement.number,
        "agreement_term": (f'{allocation.start_date.isoformat()}{labels["term_separator"]}'
                           f"{allocation.ends_on.isoformat()}"),
    }


def _classify(allocations: list[Allocation], as_of: date, since: date
              ) -> tuple[Allocation | None, list[tuple[str, dict]], Allocation | None]:
    """(allocation counting on `as_of`, reasons it is not filed, the allocation a reason is about)."""
    from services.agreements import counts_on

    counting = [a for a in allocations if counts_on(a, as_of)]
    if counting:
        return counting[0], [], None
    future = [a for a in allocations if a.activated_at is not None and a.start_date > as_of
              and a.status is AllocationStatus.ACTIVE]
    if future:
        return None, [("agreement_not_started", {"start_date": future[0].start_date.isoformat()})], future[0]
    pending = [a for a in allocations if a.status is AllocationStatus.PENDING]
    if pending:
        return None, [("agreement_not_in_force", {})], pending[0]
    ended = [a for a in allocations if a.activated_at is not None and since < a.ends_on <= as_of]
    if ended:
        last = max(ended, key=lambda a: (a.ends_on, a.id))
        return None, [("agreement_ended", {"ends_on": last.ends_on.isoformat()})], last
    return None, [], None


def _outlet_reasons(outlet: Outlet, certificates: list[Certificate], as_of: date, spec: dict
                    ) -> tuple[list[tuple[str, dict]], Certificate | None]:
    from services.certificates import effective_status

    reasons: list[tuple[str, dict]] = []
    if outlet.status is not OutletStatus.LISTED:
        reasons.append(("outlet_not_listed", {}))
    if not outlet.compliant:
        reasons.append(("not_compliant", {}))
    valid = [c for c in certificates if effective_status(c, as_of).value == "valid"]
    shown = valid[0] if valid else (certificates[0] if certificates else None)
    if not valid and certificates:
        status = effective_status(certificates[0], as_of).value
        reasons.append(("certificate_not_valid",
                        {"status": spec["certificate_status"].get(status, status)}))
    elif not certificates and spec["checks"].get("require_certificate"):
        reasons.append(("no_certificate", {}))
    return reasons, shown


def _sort_key(item: dict):
    return (item["province_code"], item["city_code"], item["district_code"] or "",
            item["values"]["outlet_name"], item["outlet_id"])


def snapshot_for(maker: Organization, as_of: date, *, since: date | None = None,
                 obligations: bool = True, joint: bool = True, now: datetime | None = None) -> dict:
    """The maker's filing data on `as_of`: rows filed, outlets left out with the reason,
    obligations not covered. `since`: agreements that ended after it are still listed as
    left out (default: `ended_lookback_days` before `as_of`). With `joint`, the current joint
    filing of each filed outlet is made sure of (services.joint_filings) and its confirmation
    shown; without it (the tick's comparison) the column is left empty."""
    from services import joint_filings
    from services import obligations as obligation_service

    spec = layout()
    now = now or utcnow()
    since = since or as_of - timedelta(days=spec["checks"]["ended_lookback_days"])
    by_outlet: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in _allocations_of(maker.id):
        by_outlet[allocation.outlet_id].append(allocation)
    certificates = _certificates_of(sorted(by_outlet))
    rows, flagged = [], []
    for outlet_id, allocations in by_outlet.items():
        chosen, reasons, about = _classify(allocations, as_of, since)
        allocation = chosen or about
        if allocation is None:
            continue
        outlet = allocation.agreement.outlet
        if chosen is not None:
            reasons, certificate = _outlet_reasons(outlet, certificates.get(outlet_id, []), as_of, spec)
        else:
            certificate = next(iter(certificates.get(outlet_id, [])), None)
        item = {"outlet_id": outlet_id, "agreement_id": allocation.agreement_id,
                "allocation_id": allocation.id, "province_code": outlet.province_code,
                "city_code": outlet.city_code, "district_code": outlet.district_code,
                "type": outlet.type.value, "values": _values(maker, allocation, certificate, spec)}
        if reasons:
            item["reasons"] = [code for code, _ in reasons]
            item["reason_text"] = _reason_text(reasons, spec)
            flagged.append(item)
        else:
            rows.append(item)
    rows.sort(key=_sort_key)
    flagged.sort(key=_sort_key)
    labels = spec["labels"]["joint_confirmation"]
    unconfirmed = 0
    if joint and rows:
        agreements = {r["agreement_id"]: None for r in rows}
        loaded = {a.id: a for a in db.session.execute(
            select(Agreement).where(Agreement.id.in_(list(agreements)))
            .options(selectinload(Agreement.allocations), selectinload(Agreement.versions))
        ).scalars()}
        current = joint_filings.ensure_many(list(loaded.values()), now)
        for row in rows:
            jf = current.get(row["agreement_id"])
            confirmed = jf is not None and joint_filings.is_confirmed(jf)
            row["joint_filing_id"] = jf.id if jf else None
            row["values"]["joint_confirmation"] = labels["confirmed" if confirmed else "unconfirmed"]
            unconfirmed += not confirmed
    for number, row in enumerate(rows, start=1):
        row["values"]["row_number"] = number
    uncovered, rule_set = [], {"code": "", "version": ""}
    if obligations:
        report = obligation_service.compute_for(maker, as_of)
        rule_set = report.rule_set
        filed_types: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            filed_types[row["city_code"]].add(row["type"])
        index = divisions.index()
        for city in report.cities:
            if not city.required:
                continue
            met = filed_types.get(city.division, set())
            status = obligation_service.status_for(city.required, met)
            if status != "covered":
                province = index.get(city.province) if city.province else None
                uncovered.append({"city": city.division, "city_name": city.name,
                                  "province_name": province.name if province else "",
                                  "required": city.required, "status": status,
                                  "missing": [t for t in city.required if t not in met]})
    return {
        "layout": {"code": spec["code"], "version": spec["version"]},
        "maker": {"id": maker.id, "legal_name": maker.legal_name, "credit_code": maker.credit_code},
        "as_of": as_of.isoformat(), "since": since.isoformat(),
        "generated_at": now.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
        "rule_set": rule_set, "rows": rows, "flagged": flagged, "uncovered": uncovered,
        "counts": {"rows": len(rows), "flagged": len(flagged), "uncovered": len(uncovered),
                   "unconfirmed": unconfirmed},
    }


def diff_keys(spec: dict | None = None) -> list[str]:
    spec = spec or layout()
    return [c["key"] for c in spec["columns"] if c.get("in_diff", True) and c["key"] != "row_number"]


def fingerprint(rows: list[dict], spec: dict | None = None) -> str:
    """SHA-256 of what a change filing compares: each filed outlet's fields."""
    keys = diff_keys(spec)
    return filing_documents.sha256(filing_documents.canonical(sorted(
        [r["outlet_id"], [r["values"].get(k) for k in keys]] for r in rows)))


def diff(old: dict | None, new: dict, spec: dict | None = None) -> dict:
    """What changed from `old`'s filed rows to `new`'s: outlets added, removed (with the reason
    when `new` left them out) and changed field by field. Pure."""
    spec = spec or layout()
    keys = diff_keys(spec)
    headers = {c["key"]: c["header"] for c in spec["columns"]}
    before = {r["outlet_id"]: r for r in (old or {}).get("rows", [])}
    after = {r["outlet_id"]: r for r in new["rows"]}
    reasons = {f["outlet_id"]: f["reason_text"] for f in new.get("flagged", [])}

    def brief(row):
        return {"outlet_id": row["outlet_id"], "values": {k: row["values"].get(k) for k in keys}}

    added = [brief(after[i]) for i in after if i not in before]
    removed = [{**brief(before[i]), "reason": reasons.get(i, "")} for i in before if i not in after]
    changed = []
    for outlet_id in (i for i in after if i in before):
        fields = [{"key": k, "header": headers[k], "old": before[outlet_id]["values"].get(k),
                   "new": after[outlet_id]["values"].get(k)}
                  for k in keys if before[outlet_id]["values"].get(k) != after[outlet_id]["values"].get(k)]
        if fields:
            changed.append({"outlet_id": outlet_id,
                            "outlet_name": after[outlet_id]["values"]["outlet_name"], "fields": fields})
    return {"added": added, "removed": removed, "changed": changed,
            "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)}}


# --- rendering --------------------------------------------------------------------------------

def render(fmt: str, snapshot: dict) -> bytes:
    from services import filing_pdf

    spec = layout()
    if fmt == "xlsx":
        return filing_documents.to_xlsx(snapshot, spec)
    if fmt == "csv":
        return filing_documents.to_csv(snapshot["rows"], spec)
    if fmt == "pdf":
        return filing_pdf.render(snapshot, spec)
    if fmt == "json":
        return filing_documents.to_json(snapshot)
    raise ValidationFailed(_l("Unknown format."), {"format": [_l("must be one of %(allowed)s",
                                                                 allowed=", ".join(FORMATS))]})


# --- permissions and lookups --------------------------------------------------------------------

def manufacturer_of(actor: Actor) -> Organization:
    from services import sales

    return sales.manufacturer_of(actor)


def _require_generate(actor: Actor, maker: Organization) -> None:
    if maker.kind is not OrgKind.MANUFACTURER:
        raise ValidationFailed(_l("Only manufacturers file outlets."),
                               {"manufacturer_id": [_l("is not a manufacturer")]})
    if actor.label == "filing-run" or (permissions.membership_of(actor.user, maker.id) is None
                                       and permissions.is_operator(actor)):
        if actor.user is not None:
            permissions.require_operator(actor.user, "contracts.moderate")
        return
    permissions.require(actor.user, "filings.generate", maker)


def _visible(actor: Actor):
    query = select(Filing)
    if permissions.is_operator(actor):
        return query
    return query.where(Filing.manufacturer_id.in_(permissions.member_org_ids(actor)))


def get_visible(actor: Actor, filing_id: int) -> Filing:
    filing = db.session.execute(_visible(actor).where(Filing.id == filing_id)).scalar_one_or_none()
    if filing is None:
        raise NotFound("filing", filing_id)
    return filing


def list_for(actor: Actor, *, manufacturer_id: int | None = None, run_id: int | None = None
             ) -> list[Filing]:
    query = _visible(actor)
    if manufacturer_id:
        query = query.where(Filing.manufacturer_id == manufacturer_id)
    if run_id:
        query = query.where(Filing.run_id == run_id)
    return list(db.session.execute(query.options(selectinload(Filing.files))
                                   .order_by(Filing.generated_at.desc(), Filing.id.desc())).scalars())


def file_of(actor: Actor, filing_id: int, fmt: str) -> FilingFile:
    filing = get_visible(actor, filing_id)
    found = next((f for f in filing.files if f.format == fmt), None)
    if found is None:
        raise NotFound("filing file", fmt)
    return found


def last_submitted(maker_id: int, *, before_version: int | None = None) -> Filing | None:
    query = select(Filing).where(Filing.manufacturer_id == maker_id,
                                 Filing.status == FilingStatus.SUBMITTED)
    if before_version is not None:
        query = query.where(Filing.version < before_version)
    return db.session.execute(query.order_by(Filing.version.desc()).limit(1)).scalar_one_or_none()


# --- generating, submitting ---------------------------------------------------------------------

def _parse_date(value, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed(_l("Give a date as YYYY-MM-DD."), {field: [_l("is not a date")]}) from exc


def generate(actor: Actor, maker: Organization, as_of=None, *, run_id: int | None = None,
             now: datetime | None = None) -> Filing:
    """Generate the next version of the maker's filing in every format, and store it."""
    now = now or utcnow()
    _require_generate(actor, maker)
    as_of = china_today(now) if as_of in (None, "") else _parse_date(as_of, "as_of")
    audit.serialize_writes()
    base = last_submitted(maker.id)
    snapshot = snapshot_for(maker, as_of, since=base.as_of if base else None, now=now)
    version = (db.session.execute(select(func.max(Filing.version))
                                  .where(Filing.manufacturer_id == maker.id)).scalar() or 0) + 1
    snapshot["version"] = version
    spec = layout()
    filing = Filing(
        manufacturer_id=maker.id, version=version, as_of=as_of,
        layout=f'{spec["code"]}/{spec["version"]}', snapshot=snapshot,
        snapshot_sha256=filing_documents.sha256(filing_documents.canonical(snapshot)),
        rows_sha256=fingerprint(snapshot["rows"], spec), row_count=len(snapshot["rows"]),
        flagged_count=len(snapshot["flagged"]), uncovered_count=len(snapshot["uncovered"]),
        unconfirmed_count=snapshot["counts"]["unconfirmed"], run_id=run_id,
        generated_by_id=actor.user_id, generated_at=now)
    for fmt in FORMATS:
        content = render(fmt, snapshot)
        filing.files.append(FilingFile(
            format=fmt, filename=f"outlet-filing-{maker.credit_code}-v{version}-{as_of.isoformat()}.{fmt}",
            content_type=filing_documents.FORMATS[fmt], size_bytes=len(content),
            sha256=filing_documents.sha256(content), content=content))
    db.session.add(filing)
    db.session.flush()
    audit.record(actor, "filing.generated", SUBJECT, filing.id, organization_id=maker.id,
                 data={"version": version, "as_of": as_of.isoformat(), "rows": filing.row_count,
                       "flagged": filing.flagged_count, "uncovered": filing.uncovered_count,
                       "files": {f.format: f.sha256 for f in filing.files}})
    return filing


def mark_submitted(actor: Actor, filing_id: int, *, submitted_on, reference,
                   now: datetime | None = None) -> Filing:
    """The maker records that it filed this version with the regulator."""
    now = now or utcnow()
    audit.serialize_writes()
    filing = get_visible(actor, filing_id)
    permissions.require(actor.user, "filings.generate", filing.manufacturer)
    if filing.status is FilingStatus.SUBMITTED:
        raise Conflict(_l("This version is already marked submitted."))
    day = _parse_date(submitted_on, "submitted_on")
    if day > china_today(now):
        raise ValidationFailed(_l("The submission date cannot be in the future."),
                               {"submitted_on": [_l("is in the future")]})
    if day < filing.generated_at.astimezone(CHINA).date():
        raise ValidationFailed(_l("The submission date is before this version was generated."),
                               {"submitted_on": [_l("is before the version was generated")]})
    text = (reference or "").strip() if isinstance(reference, str | type(None)) else str(reference)
    if not text or len(text) > REFERENCE_MAX:
        raise ValidationFailed(_l("Give the submission reference (at most %(n)s characters).",
                                  n=REFERENCE_MAX), {"reference": [_l("is required")]})
    later = db.session.execute(select(Filing.version).where(
        Filing.manufacturer_id == filing.manufacturer_id, Filing.status == FilingStatus.SUBMITTED,
        Filing.version > filing.version)).first()
    if later is not None:
        raise Conflict(_l("A later version is already submitted."))
    filing.status = FilingStatus.SUBMITTED
    filing.submitted_on, filing.submission_reference = day, text
    filing.submitted_at, filing.submitted_by_id = now, actor.user_id
    for due in _open_due(filing.manufacturer_id):
        due.resolved_at = now
    db.session.flush()
    audit.record(actor, "filing.submitted", SUBJECT, filing.id, organization_id=filing.manufacturer_id,
                 data={"version": filing.version, "submitted_on": day.isoformat(), "reference": text})
    return filing


def change_filing(actor: Actor, filing_id: int) -> dict:
    """The change filing of a version: what differs from the last submitted version before it."""
    filing = get_visible(actor, filing_id)
    base = last_submitted(filing.manufacturer_id, before_version=filing.version)
    result = diff(base.snapshot if base else None, filing.snapshot)
    return {"filing_id": filing.id, "version": filing.version, "as_of": filing.as_of,
            "base": None if base is None else {"filing_id": base.id, "version": base.version,
                                               "as_of": base.as_of, "submitted_on": base.submitted_on,
                                               "reference": base.submission_reference},
            **result}


def pending_changes(maker: Organization, today: date) -> dict | None:
    """What differs today from the last submitted version (None if nothing was submitted)."""
    base = last_submitted(maker.id)
    if base is None:
        return None
    current = snapshot_for(maker, today, since=base.as_of, obligations=False, joint=False)
    return {"base": {"filing_id": base.id, "version": base.version, "submitted_on": base.submitted_on},
            **diff(base.snapshot, current)}


def _open_due(maker_id: int) -> list[FilingChangeDue]:
    return list(db.session.execute(select(FilingChangeDue).where(
        FilingChangeDue.manufacturer_id == maker_id, FilingChangeDue.resolved_at.is_(None))).scalars())


def open_due(actor: Actor, maker: Organization) -> FilingChangeDue | None:
    permissions.require(actor.user, "organization.view", maker)
    found = _open_due(maker.id)
    return found[0] if found else None


def detect_changes_due(now: datetime) -> int:
    """For every maker with a submitted version: if its filed data differs today, tell it once
    that a change filing is due, and by when; if the data came back, the notice is resolved."""
    today = china_today(now)
    days = setting("FILING_CHANGE_WORKING_DAYS")
    found = 0
    maker_ids = db.session.execute(select(Filing.manufacturer_id).distinct().where(
        Filing.status == FilingStatus.SUBMITTED)).scalars().all()
    for maker_id in sorted(maker_ids):
        base = last_submitted(maker_id)
        maker = db.session.get(Organization, maker_id)
        current = snapshot_for(maker, today, since=base.as_of, obligations=False, joint=False, now=now)
        still_open = _open_due(maker_id)
        rows_sha256 = fingerprint(current["rows"])
        if rows_sha256 == base.rows_sha256:
            for due in still_open:
                due.resolved_at = now
            continue
        if still_open:
            continue
        changes = diff(base.snapshot, current)
        due = FilingChangeDue(manufacturer_id=maker_id, base_filing_id=base.id, detected_on=today,
                              due_on=working_days.add_working_days(today, days),
                              rows_sha256=rows_sha256, summary=changes["counts"],
                              created_at=now)
        db.session.add(due)
        db.session.flush()
        audit.record(TICK, "filing.change_due", SUBJECT, base.id, organization_id=maker_id,
                     data={"due_on": due.due_on.isoformat(), **changes["counts"]})
        notifications.notify([maker_id], "filing.change_due",
                             {"due_on": due.due_on.isoformat(), "version": base.version,
                              **changes["counts"]}, link="/filings")
        found += 1
    return found


@job("filings.changes_due")
def changes_due_job(now: datetime) -> int:
    return detect_changes_due(now)


# --- the public disclosure list ---------------------------------------------------------------

def public_list_rows() -> list[dict]:
    """Every listed outlet with the makers filing it (under an active allocation); an outlet
    no maker files yet appears once, under its operating organization."""
    spec = layout()
    labels = spec["labels"]
    makers: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for outlet_id, name, form in db.session.execute(
            select(Allocation.outlet_id, Organization.legal_name, Allocation.form)
            .join(Organization, Organization.id == Allocation.manufacturer_id)
            .where(Allocation.status == AllocationStatus.ACTIVE)
            .order_by(Allocation.outlet_id, Organization.legal_name)):
        makers[outlet_id].append((name, form.value))
    outlets = db.session.execute(
        select(Outlet).where(Outlet.status == OutletStatus.LISTED)
        .order_by(Outlet.province_code, Outlet.city_code, Outlet.district_code, Outlet.name, Outlet.id)
    ).scalars().all()
    rows = []
    for outlet in outlets:
        places = place_names(outlet)
        filers = makers.get(outlet.id) or [(outlet.provider.legal_name, outlet.establishment.value)]
        for enterprise, form in filers:
            rows.append({"values": {
                "row_number": len(rows) + 1, "enterprise": enterprise, **places,
                "outlet_name": outlet.name, "address": outlet.address,
                "outlet_type": labels["outlet_type"].get(outlet.type.value, outlet.type.value),
                "establishment": labels["establishment"].get(form, form),
                "operator": outlet.provider.legal_name}})
    return rows


def public_list(fmt: str, now: datetime | None = None) -> bytes:
    now = now or utcnow()
    spec = layout("filing_layout_public")
    rows = public_list_rows()
    if fmt == "csv":
        return filing_documents.to_csv(rows, spec)
    if fmt == "xlsx":
        subtitle = f'截至 {now.astimezone(CHINA):%Y-%m-%d %H:%M}（北京时间），共 {len(rows)} 条'
        return filing_documents.public_list_xlsx(rows, spec, subtitle)
    raise ValidationFailed(_l("Unknown format."), {"format": [_l("must be one of %(allowed)s",
                                                                 allowed="csv, xlsx")]})


def archive(filings: list[Filing]) -> bytes:
    """Every file of the given versions in one ZIP, with a manifest of their SHA-256."""
    buffer = io.BytesIO()
    manifest = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for filing in filings:
            for file in filing.files:
                name = f"{filing.manufacturer.credit_code}/{file.filename}"
                bundle.writestr(name, file.content)
                manifest.append(f"{file.sha256}  {name}")
        bundle.writestr("SHA256SUMS", "\n".join(manifest) + "\n")
    return buffer.getvalue()
