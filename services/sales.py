"""A manufacturer's NEV sales (and parc, where it knows it) by prefecture-level city and year.

Figures arrive as JSON records or as a CSV/XLSX file with the same columns. A submission
replaces the maker's figures for every year it names (years it does not name are kept), all
or nothing: every record is checked first and one bad record rejects the lot, listing every
problem with its line (the JSON record's 1-based position, or the row a spreadsheet shows).

A city is given by its 6-digit division code or by name, resolved through services.divisions;
it must be a prefecture-level region (a municipality counts as one). A district or a province
is refused with the prefecture-level code to use instead, never silently mapped: figures
filed against the wrong city would put obligations in the wrong place.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, func, insert, select

from app.extensions import db
from app.models import OrgKind, SalesRecord
from services import audit, divisions, paging, permissions
from services.audit import Actor
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.outlet_import import (
    HEADER_SEARCH_ROWS,
    Column,
    ImportRejected,
    RowError,
    _csv_rows,
    _xlsx_rows,
    normalize_header,
)

MAX_RECORDS = 20_000
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_FIGURE = 100_000_000


COLUMNS: tuple[Column, ...] = (
    Column("division", "城市", "City", True,
           ("地级市", "市", "城市代码", "行政区划代码", "division", "city", "city code", "division code"),
           "440300", _l("Prefecture-level city: its 6-digit division code or its name.")),
    Column("year", "年份", "Year", True, ("年度", "year"), "2025", _l("Calendar year of the sales.")),
    Column("sales", "销量", "Sales", True,
           ("新能源汽车销量", "销售量", "sales", "nev sales"), "1200",
           _l("NEV sold in the city in that year.")),
    Column("parc", "保有量", "Parc", False, ("parc", "vehicles in use", "保有"), "5300",
           _l("Optional: vehicles in use at the end of the year; estimated from sales when empty.")),
)
HEADER_INDEX = {}
for _column in COLUMNS:
    for _name in (_column.header_zh, _column.header_en, _column.field, *_column.aliases):
        HEADER_INDEX.setdefault(normalize_header(_name), _column.field)


def manufacturer_of(actor: Actor):
    """The caller's manufacturer organization: its first manufacturer membership."""
    for membership in getattr(actor.user, "memberships", ()) or ():
        if membership.organization.kind is OrgKind.MANUFACTURER:
            return membership.organization
    raise PermissionDenied(str(_l("only members of a manufacturer organization may do this")))


def _require(actor: Actor, action: str, manufacturer) -> None:
    if manufacturer.kind is not OrgKind.MANUFACTURER:
        raise PermissionDenied(str(_l("only manufacturer organizations record sales")))
    permissions.require(actor.user, action, manufacturer)


def require_view(actor: Actor, manufacturer) -> None:
    _require(actor, "organization.view", manufacturer)


def list_for(actor: Actor, manufacturer, year: int | None = None, *, page: int = 1,
             per_page: int | None = None) -> tuple[list[SalesRecord], int]:
    """The maker's figures, latest year first and by city, and how many (a page of them with
    `per_page`): a national maker files well over a thousand."""
    _require(actor, "organization.view", manufacturer)
    stmt = select(SalesRecord).where(SalesRecord.manufacturer_id == manufacturer.id)
    if year is not None:
        stmt = stmt.where(SalesRecord.year == year)
    return paging.page_of(stmt, SalesRecord.year.desc(), SalesRecord.division_code, page=page,
                          per_page=per_page)


def years_of(actor: Actor, manufacturer) -> dict[int, int]:
    """How many cities the maker has figures for, by year, latest first."""
    _require(actor, "organization.view", manufacturer)
    return dict(db.session.execute(
        select(SalesRecord.year, func.count()).where(SalesRecord.manufacturer_id == manufacturer.id)
        .group_by(SalesRecord.year).order_by(SalesRecord.year.desc())).all())


# --- validation (pure given a division index) -------------------------------------------------

def resolve_city(text: object, index: divisions.DivisionIndex) -> tuple[str | None, str | None]:
    """(prefecture-level code, None) or (None, reason)."""
    value = "" if text is None else str(text).strip()
    if not value:
        return None, str(_l("is required"))
    resolution = index.resolve(value)
    if resolution is None:
        return None, str(_l("“%(value)s” is not a known city, or names more than one; give the 6-digit "
                            "code", value=value))
    if resolution.district is not None:
        city = resolution.prefecture
        hint = f" {city.name} ({city.code})" if city else ""
        return None, str(_l("“%(value)s” is a district or county, not a prefecture-level city; "
                            "give its city instead:%(hint)s", value=value, hint=hint))
    if resolution.prefecture is None:
        return None, str(_l("“%(value)s” is a province; give a prefecture-level city", value=value))
    return resolution.prefecture.code, None


def _whole_number(value: object, *, required: bool) -> tuple[int | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, (str(_l("is required")) if required else None)
    if isinstance(value, bool):
        return None, str(_l("must be a whole number"))
    if isinstance(value, float):
        if not value.is_integer():
            return None, str(_l("must be a whole number"))
        value = int(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if text.endswith(".0"):
            text = text[:-2]
        if not text.lstrip("-").isdigit():
            return None, str(_l("“%(value)s” is not a whole number", value=value))
        value = int(text)
    if not isinstance(value, int):
        return None, str(_l("must be a whole number"))
    if value < 0:
        return None, str(_l("must not be negative"))
    if value > MAX_FIGURE:
        return None, str(_l("is implausibly large"))
    return value, None


@dataclass(frozen=True)
class Prepared:
    line: int
    division_code: str
    year: int
    sales: int
    parc: int | None


def validate(records: list[tuple[int, dict]], index: divisions.DivisionIndex,
             headers: dict[str, str] | None = None) -> list[Prepared]:
    """Every record checked; raises ImportRejected listing every problem, or returns them all."""
    headers = headers or {}
    errors: list[RowError] = []
    prepared: list[Prepared] = []
    seen: dict[tuple[str, int], int] = {}
    if not records:
        raise ImportRejected(_l("No sales figures were given."),
                             [RowError(0, "", str(_l("no records")))])
    if len(records) > MAX_RECORDS:
        raise ImportRejected(_l("Too many records."), [RowError(
            0, "", str(_l("at most %(n)s records per submission", n=MAX_RECORDS)))])
    for line, record in records:
        if not isinstance(record, dict):
            errors.append(RowError(line, "", str(_l("must be an object"))))
            continue
        row_errors = len(errors)

        def col(name: str) -> str:
            return headers.get(name, name)

        code, reason = resolve_city(record.get("division"), index)
        if reason:
            errors.append(RowError(line, col("division"), reason))
        year, reason = _whole_number(record.get("year"), required=True)
        if reason:
            errors.append(RowError(line, col("year"), reason))
        elif not MIN_YEAR <= year <= MAX_YEAR:
            errors.append(RowError(line, col("year"), str(
                _l("must be between %(lo)s and %(hi)s", lo=MIN_YEAR, hi=MAX_YEAR))))
        sales, reason = _whole_number(record.get("sales"), required=True)
        if reason:
            errors.append(RowError(line, col("sales"), reason))
        parc, reason = _whole_number(record.get("parc"), required=False)
        if reason:
            errors.append(RowError(line, col("parc"), reason))
        if len(errors) > row_errors:
            continue
        key = (code, year)
        if key in seen:
            errors.append(RowError(line, col("division"), str(
                _l("%(city)s %(year)s appears twice (also on line %(other)s)",
                   city=code, year=year, other=seen[key]))))
            continue
        seen[key] = line
        prepared.append(Prepared(line, code, year, sales, parc))
    if errors:
        raise ImportRejected(_l("Nothing was saved: %(n)s problem(s) found.", n=len(errors)),
                             errors)
    return prepared


def records_from_file(content: bytes, filename: str | None) -> tuple[list[tuple[int, dict]], dict]:
    """(records with their spreadsheet line, {field: header as written}) from CSV or XLSX."""
    name = (filename or "").lower()
    if content[:4] == b"PK\x03\x04" or name.endswith(".xlsx"):
        grid = _xlsx_rows(content)
    else:
        grid = _csv_rows(content)
    for position, (_line, cells) in enumerate(grid[:HEADER_SEARCH_ROWS]):
        mapping: dict[str, int] = {}
        for i, cell in enumerate(cells):
            field_name = HEADER_INDEX.get(normalize_header(cell))
            if field_name and field_name not in mapping:
                mapping[field_name] = i
        if {"division", "year", "sales"} <= set(mapping):
            headers = {f: cells[i] for f, i in mapping.items()}
            records = []
            for number, row in grid[position + 1:]:
                if not any(c.strip() for c in row):
                    continue
                records.append((number, {f: (row[i] if i < len(row) else "")
                                         for f, i in mapping.items()}))
            return records, headers
    expected = "、".join(f"{c.header_zh} ({c.header_en})" for c in COLUMNS if c.required)
    raise ImportRejected(_l("No header row found."), [RowError(
        1, "", str(_l("no header row found; expected the columns %(cols)s", cols=expected)))])


# --- writing -----------------------------------------------------------------------------------

@dataclass
class ReplaceResult:
    manufacturer_id: int
    years: list[int]
    records: int
    replaced: int  # rows of those years that were there before


def replace(actor: Actor, manufacturer, records: list[tuple[int, dict]],
            headers: dict[str, str] | None = None, *, source: str = "api") -> ReplaceResult:
    """Replace the maker's figures for every year the records name; flushes, never commits."""
    _require(actor, "organization.edit", manufacturer)
    prepared = validate(records, divisions.index(), headers)
    years = sorted({p.year for p in prepared})
    removed = db.session.execute(
        delete(SalesRecord).where(SalesRecord.manufacturer_id == manufacturer.id,
                                  SalesRecord.year.in_(years))).rowcount or 0
    db.session.execute(insert(SalesRecord), [
        {"manufacturer_id": manufacturer.id, "division_code": p.division_code, "year": p.year,
         "sales": p.sales, "parc": p.parc} for p in prepared])
    db.session.flush()
    audit.record(actor, "sales.replaced", "organization", manufacturer.id,
                 organization_id=manufacturer.id,
                 data={"years": years, "records": len(prepared), "replaced": removed,
                       "source": source})
    return ReplaceResult(manufacturer.id, years, len(prepared), removed)


def record_one(actor: Actor, manufacturer, record: dict) -> SalesRecord:
    """Enter or correct one city's figures for one year (the UI's form); flushes."""
    _require(actor, "organization.edit", manufacturer)
    try:
        (p,) = validate([(1, record)], divisions.index())
    except ImportRejected as rejected:
        fields: dict[str, list[str]] = {}
        for row in rejected.rows:
            fields.setdefault(row.column or "division", []).append(row.reason)
        raise ValidationFailed(_l("Some fields need correcting."), fields) from rejected
    row = db.session.scalars(select(SalesRecord).where(
        SalesRecord.manufacturer_id == manufacturer.id, SalesRecord.division_code == p.division_code,
        SalesRecord.year == p.year)).first()
    if row is None:
        row = SalesRecord(manufacturer_id=manufacturer.id, division_code=p.division_code,
                          year=p.year, sales=p.sales, parc=p.parc)
        db.session.add(row)
    else:
        row.sales, row.parc = p.sales, p.parc
    db.session.flush()
    audit.record(actor, "sales.recorded", "organization", manufacturer.id,
                 organization_id=manufacturer.id,
                 data={"division": p.division_code, "year": p.year, "sales": p.sales,
                       "parc": p.parc})
    return row


def remove(actor: Actor, manufacturer, record_id: int) -> None:
    _require(actor, "organization.edit", manufacturer)
    row = db.session.scalars(select(SalesRecord).where(
        SalesRecord.manufacturer_id == manufacturer.id, SalesRecord.id == record_id)).first()
    if row is None:
        raise NotFound("sales record", record_id)
    data = {"division": row.division_code, "year": row.year}
    db.session.delete(row)
    db.session.flush()
    audit.record(actor, "sales.removed", "organization", manufacturer.id,
                 organization_id=manufacturer.id, data=data)


def import_file(actor: Actor, manufacturer, content: bytes, filename: str | None) -> ReplaceResult:
    _require(actor, "organization.edit", manufacturer)
    records, headers = records_from_file(content, filename)
    return replace(actor, manufacturer, records, headers, source="file")


# --- template -----------------------------------------------------------------------------------

def template_csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header_zh for c in COLUMNS])
    writer.writerow([c.example for c in COLUMNS])
    writer.writerow(["长沙市", "2025", "800", ""])
    return out.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "sales"
    sheet.append([c.header_zh for c in COLUMNS])
    sheet.append([c.example for c in COLUMNS])
    sheet.append(["长沙市", "2025", "800", ""])
    notes = workbook.create_sheet("columns")
    notes.append(["column", "header (en)", "required", "description"])
    for c in COLUMNS:
        notes.append([c.header_zh, c.header_en, "yes" if c.required else "no", str(c.help)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
