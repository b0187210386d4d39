"""Certification schemes: what a certifier audits and how long a certificate holds.

Schemes are data an operator manages (list, create, edit, deactivate). The shipped default
lives in services/data/certification_schemes.json. A scheme that applications already use
keeps its audited content: change it by creating a new version, so an audit in progress and
the certificates issued under it never change underneath their holders.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from app.models import CertificationApplication, CertificationScheme, OutletType
from services import audit, permissions
from services.audit import Actor
from services.errors import Conflict, NotFound, ValidationFailed
from services.text_fields import clean_text

DATA_FILE = Path(__file__).resolve().parent / "data" / "certification_schemes.json"
ALL_ITEMS = frozenset(range(1, 25))  # the survey's 24-item checklist
OUTLET_TYPES = frozenset(t.value for t in OutletType)
TEXT_LIMITS = {"code": 40, "version": 20, "name_zh": 200, "name_en": 200, "issuing_body": 200}
MONTH_FIELDS = ("validity_months", "surveillance_interval_months")
MAX_MONTHS = 120
# What an audit checks and how long its certificate lasts: frozen once a scheme is in use.
AUDITED_CONTENT = ("code", "version", "outlet_types", "checklist_items", "validity_months",
                   "surveillance_interval_months")
FIELDS = (*TEXT_LIMITS, "outlet_types", "checklist_items", *MONTH_FIELDS, "active")


# --- pure validation ------------------------------------------------------------------------

def check_fields(data: dict, *, creating: bool,
                 item_numbers: frozenset[int] = ALL_ITEMS) -> tuple[dict, dict]:
    """(clean values, {field: [messages]}) for a scheme; only given fields when editing."""
    errors: dict[str, list] = {}
    clean: dict = {}

    def present(name: str) -> bool:
        return creating or name in data

    for name, limit in TEXT_LIMITS.items():
        if not present(name):
            continue
        if (value := clean_text(data.get(name), name, errors, limit=limit)) is not None:
            clean[name] = value
    if present("outlet_types"):
        values = data.get("outlet_types")
        if not isinstance(values, list | tuple) or not values:
            errors["outlet_types"] = [_l("choose at least one outlet type")]
        elif unknown := [str(v) for v in values if v not in OUTLET_TYPES]:
            errors["outlet_types"] = [_l("unknown values: %(values)s; allowed: %(allowed)s",
                                         values=", ".join(unknown),
                                         allowed=", ".join(sorted(OUTLET_TYPES)))]
        else:
            clean["outlet_types"] = sorted(set(values))
    if present("checklist_items"):
        values = data.get("checklist_items")
        numbers = _integers(values)
        if numbers is None or not numbers:
            errors["checklist_items"] = [_l("choose at least one checklist item")]
        elif unknown := sorted(set(numbers) - item_numbers):
            errors["checklist_items"] = [_l("not checklist item numbers: %(values)s",
                                            values=", ".join(map(str, unknown)))]
        else:
            clean["checklist_items"] = sorted(set(numbers))
    for name in MONTH_FIELDS:
        if not present(name):
            continue
        value = data.get(name, 36 if name == "validity_months" else 12)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MONTHS:
            errors[name] = [_l("must be a whole number of months from 1 to %(n)s", n=MAX_MONTHS)]
        else:
            clean[name] = value
    if ("validity_months" in clean and "surveillance_interval_months" in clean
            and clean["surveillance_interval_months"] > clean["validity_months"]):
        errors["surveillance_interval_months"] = [
            _l("cannot be longer than the validity")]
    if "active" in data:
        if not isinstance(data["active"], bool):
            errors["active"] = [_l("must be true or false")]
        else:
            clean["active"] = data["active"]
    elif creating:
        clean["active"] = True
    return clean, errors


def _integers(values) -> list[int] | None:
    if not isinstance(values, list | tuple):
        return None
    numbers = []
    for value in values:
        if isinstance(value, bool):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            return None
        if str(number) != str(value).strip():
            return None
        numbers.append(number)
    return numbers


def covers(scheme: CertificationScheme, outlet_type: str) -> bool:
    return outlet_type in (scheme.outlet_types or [])


# --- reading --------------------------------------------------------------------------------

def read_defaults() -> list[dict]:
    with open(DATA_FILE, encoding="utf-8") as f:
        return json.load(f)["schemes"]


def all_schemes(*, active_only: bool = False) -> list[CertificationScheme]:
    query = select(CertificationScheme)
    if active_only:
        query = query.where(CertificationScheme.active.is_(True))
    return list(db.session.execute(query.order_by(
        CertificationScheme.code, CertificationScheme.version)).scalars())


def for_outlet_type(outlet_type: str) -> list[CertificationScheme]:
    """Active schemes an outlet of this type may apply under."""
    return [s for s in all_schemes(active_only=True) if covers(s, outlet_type)]


def get(scheme_id: int) -> CertificationScheme:
    scheme = db.session.get(CertificationScheme, scheme_id)
    if scheme is None:
        raise NotFound("certification scheme", scheme_id)
    return scheme


def in_use(scheme: CertificationScheme) -> bool:
    return db.session.execute(
        select(func.count()).select_from(CertificationApplication)
        .where(CertificationApplication.scheme_id == scheme.id)).scalar_one() > 0


# --- operator changes -----------------------------------------------------------------------

def _taken(code: str, version: str, except_id: int | None = None) -> bool:
    query = select(func.count()).select_from(CertificationScheme).where(
        CertificationScheme.code == code, CertificationScheme.version == version)
    if except_id is not None:
        query = query.where(CertificationScheme.id != except_id)
    return db.session.execute(query).scalar_one() > 0


def create(actor: Actor, data: dict) -> CertificationScheme:
    operator = permissions.require_operator(actor.user, "reference.manage")
    clean, errors = check_fields(data, creating=True)
    if not errors and _taken(clean["code"], clean["version"]):
        errors["version"] = [_l("this code and version already exist; choose a new version")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    scheme = CertificationScheme(**clean)
    db.session.add(scheme)
    db.session.flush()
    audit.record(actor, "certification_scheme.created", "certification_scheme", scheme.id,
                 organization_id=operator.id, data=_snapshot(scheme))
    return scheme


def update(actor: Actor, scheme_id: int, data: dict) -> CertificationScheme:
    """Edit fields; `active: false` deactivates (no new applications under it)."""
    operator = permissions.require_operator(actor.user, "reference.manage")
    scheme = get(scheme_id)
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationFailed(_l("Some fields cannot be changed."),
                               {name: [_l("is not a scheme field")] for name in unknown})
    clean, errors = check_fields(data, creating=False)
    months = {name: clean.get(name, getattr(scheme, name)) for name in MONTH_FIELDS}
    if months["surveillance_interval_months"] > months["validity_months"] and not errors:
        errors["surveillance_interval_months"] = [_l("cannot be longer than the validity")]
    code, version = clean.get("code", scheme.code), clean.get("version", scheme.version)
    if not errors and (code, version) != (scheme.code, scheme.version) and _taken(
            code, version, scheme.id):
        errors["version"] = [_l("this code and version already exist; choose a new version")]
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    changed = {name: value for name, value in clean.items() if getattr(scheme, name) != value}
    frozen = sorted(set(changed) & set(AUDITED_CONTENT))
    if frozen and in_use(scheme):
        raise Conflict(_l("Applications already use this scheme, so what it audits cannot change; "
                          "create a new version instead."),
                       {name: [_l("cannot change on a scheme in use")] for name in frozen})
    for name, value in changed.items():
        setattr(scheme, name, value)
    if changed:
        db.session.flush()
        action = ("certification_scheme.deactivated" if changed.get("active") is False
                  else "certification_scheme.updated")
        audit.record(actor, action, "certification_scheme", scheme.id,
                     organization_id=operator.id, data={"changed": changed})
    return scheme


def _snapshot(scheme: CertificationScheme) -> dict:
    return {name: getattr(scheme, name) for name in FIELDS}
