"""Load the shipped reference data (services/data) into the database: an idempotent upsert.

Inserts what is missing and updates what changed, in bulk; rows that disappeared from the files
are left alone because other tables may still point at them. Flushes, never commits.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import insert, select, update

from app.extensions import db
from app.models import (
    CertificationScheme,
    ChecklistCategory,
    ChecklistItem,
    Division,
    Region,
    RuleSet,
)
from services import certification_schemes, divisions

DATA_DIR = Path(__file__).resolve().parent / "data"
RULE_SET_DIR = DATA_DIR / "rule_sets"
_DIVISION_FIELDS = ("code", "name", "short_name", "level", "parent_code", "province_code",
                    "prefecture_code", "lat", "lon")


def _read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_regions() -> list[dict]:
    return _read_json(DATA_DIR / "regions.json")["regions"]


def read_rule_sets() -> list[dict]:
    """Every rule set file, with dates parsed, ordered by effective_from."""
    rule_sets = []
    for path in sorted(RULE_SET_DIR.glob("*.json")):
        data = _read_json(path)
        data["effective_from"] = date.fromisoformat(data["effective_from"])
        if data.get("effective_to"):
            data["effective_to"] = date.fromisoformat(data["effective_to"])
        else:
            data["effective_to"] = None
        rule_sets.append(data)
    return sorted(rule_sets, key=lambda r: r["effective_from"])


def read_checklist() -> dict:
    data = _read_json(DATA_DIR / "checklist.json")
    data["effective_from"] = date.fromisoformat(data["effective_from"])
    return data


def _upsert(model, key: tuple[str, ...], rows: list[dict]) -> tuple[int, int]:
    """Bulk insert rows whose key is new, bulk update rows whose other fields changed."""
    fields = tuple(rows[0]) if rows else ()
    columns = [getattr(model, f) for f in fields]
    pk = [c.name for c in model.__table__.primary_key.columns]
    existing = {}
    for row in db.session.execute(select(*columns, *[getattr(model, c) for c in pk
                                                     if c not in fields])):
        values = row._asdict()
        existing[tuple(values[k] for k in key)] = values
    inserts, updates = [], []
    for row in rows:
        current = existing.get(tuple(row[k] for k in key))
        if current is None:
            inserts.append(row)
        elif any(current[f] != row[f] for f in fields):
            updates.append({**row, **{c: current[c] for c in pk}})
    if inserts:
        db.session.execute(insert(model), inserts)
    if updates:
        db.session.execute(update(model), updates)
    return len(inserts), len(updates)


def load_all() -> dict[str, int]:
    """Upsert divisions, regions, rule sets and the checklist, and insert missing certification
    schemes; returns row counts per kind (as shipped) plus how many rows were inserted and
    updated in total."""
    checklist = read_checklist()
    version = checklist["version"]
    category_position = {c["code"]: c["position"] for c in checklist["categories"]}
    batches = {
        "divisions": (Division, ("code",),
                      [{k: r[k] for k in _DIVISION_FIELDS} for r in divisions.read_csv()]),
        "regions": (Region, ("code",), [
            {k: r[k] for k in ("code", "name_zh", "name_en", "position", "province_codes")}
            for r in read_regions()]),
        "rule_sets": (RuleSet, ("code", "version"), [
            {k: r.get(k) for k in ("code", "version", "title_zh", "title_en", "effective_from",
                                   "effective_to", "sources", "parameters", "notes")}
            for r in read_rule_sets()]),
        "checklist_categories": (ChecklistCategory, ("checklist_version", "code"), [
            {"checklist_version": version, "code": c["code"], "position": c["position"],
             "name_zh": c["name_zh"], "name_en": c["name_en"],
             "survey_fail_share": c.get("survey_fail_share")}
            for c in checklist["categories"]]),
        "checklist_items": (ChecklistItem, ("checklist_version", "number"), [
            {"checklist_version": version, "number": i["number"], "category": i["category"],
             "category_position": category_position[i["category"]],
             "title_zh": i["title_zh"], "title_en": i["title_en"],
             "requirement_zh": i["requirement_zh"], "requirement_en": i["requirement_en"],
             "applies_to": i["applies_to"], "effective_from": checklist["effective_from"],
             "survey_fail_share": i.get("survey_fail_share")}
            for i in checklist["items"]]),
    }
    counts = {"inserted": 0, "updated": 0}
    for kind, (model, key, rows) in batches.items():
        inserted, updated = _upsert(model, key, rows)
        counts[kind] = len(rows)
        counts["inserted"] += inserted
        counts["updated"] += updated
    counts["certification_schemes"], inserted = load_certification_schemes()
    counts["inserted"] += inserted
    db.session.flush()
    divisions.reset_cache()
    return counts


def load_certification_schemes() -> tuple[int, int]:
    """Shipped schemes are inserted once and then belong to the operators: a scheme an
    operator edited or deactivated is never overwritten (new rules come as a new version)."""
    rows = certification_schemes.read_defaults()
    existing = {(code, version) for code, version in db.session.execute(
        select(CertificationScheme.code, CertificationScheme.version))}
    missing = [row for row in rows if (row["code"], row["version"]) not in existing]
    for row in missing:
        db.session.add(CertificationScheme(**{k: row[k] for k in certification_schemes.FIELDS}))
    return len(rows), len(missing)
