"""Bulk import of outlets from CSV or XLSX, in the column layout of the regulator's public list.

The regulator (MIIT) publishes each maker's outlets as 企业名称 / 省 / 市 / 区/县 / 详细地址 /
联系人 / 联系电话; we add what the pool needs (type, storage area, maximum stored weight, annual
capacity, establishment). COLUMNS below is that layout as data: the template files, the header
matching (Chinese headers, English aliases) and the import page all read it.

Rules of an import:
- All or nothing: every row is validated in memory first (the field rules are
  `services.outlets.check_fields`, including the type limits of the rule set in force); one bad
  row and nothing is written, and the rejection lists every bad row as (line, column, reason).
  `line` is the row number a spreadsheet shows (the header row included).
- Idempotent: each row has a stable key, the SHA-256 of its normalized enterprise, province,
  city, district, address and outlet name, kept in `Outlet.import_key` (unique per provider).
  Re-importing a row with an existing key updates the outlet only if a value changed.
- New outlets are drafts: they join the public pool after a passing self-assessment.
- Fast: one query for the existing keys, bulk INSERT and bulk UPDATE, one audit event.

Who imports for whom: a provider imports into its own organization (`outlets.manage`); an
operator importing the national list picks the target provider organization explicitly
(`reference.manage`). A row's enterprise (企业名称) is the company that filed the outlet; when it
is not the target provider itself it is recorded as the outlet's partner (`established_with`)
unless that column is filled in.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select, update

from app.extensions import db
from app.models import (
    Establishment,
    Membership,
    Organization,
    OrgKind,
    Outlet,
    OutletStatus,
    OutletType,
)
from app.models.types import utcnow
from services import audit, divisions, outlets, permissions, rule_sets
from services.audit import Actor
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.spreadsheet_safety import UnreadableUpload, check_xlsx, decode_upload

MAX_ROWS = 50_000
HEADER_SEARCH_ROWS = 20  # a title line or two may sit above the header row
BATCH = 1000


@dataclass(frozen=True)
class Column:
    field: str
    header_zh: str
    header_en: str
    required: bool
    aliases: tuple[str, ...]
    example: str
    help: object  # lazily translated description


COLUMNS: tuple[Column, ...] = (
    Column("enterprise", "企业名称", "Enterprise name", True,
           ("企业", "企业名", "公司名称", "单位名称", "enterprise", "company", "company name"),
           "绿源电池综合利用有限公司",
           _l("The company that filed the outlet with the regulator.")),
    Column("name", "网点名称", "Outlet name", False,
           ("网点", "名称", "outlet", "outlet name", "name"),
           "绿源长沙宁乡回收服务网点",
           _l("Optional; defaults to the enterprise, the district and 回收服务网点.")),
    Column("province", "省", "Province", True,
           ("省份", "省份/直辖市", "省（自治区、直辖市）", "省/自治区/直辖市", "province"),
           "湖南省", _l("Province, autonomous region or municipality.")),
    Column("city", "市", "City", True,
           ("城市", "地市", "市（州）", "地级市", "city", "prefecture"),
           "长沙市", _l("Prefecture-level city (for municipalities: the municipality or 市辖区).")),
    Column("district", "区/县", "District", False,
           ("区县", "区（县）", "区", "县", "district", "county"),
           "宁乡市", _l("District or county; optional.")),
    Column("address", "详细地址", "Detailed address", True,
           ("地址", "网点地址", "address", "detailed address", "street address"),
           "金洲大道88号", _l("Street and number; the province, city and district may be repeated.")),
    Column("contact_name", "联系人", "Contact", False,
           ("联系人姓名", "contact", "contact name", "contact person"),
           "王芳", _l("Contact person at the outlet.")),
    Column("contact_phone", "联系电话", "Phone", False,
           ("电话", "联系方式", "手机", "phone", "telephone", "contact phone"),
           "0731-86660002", _l("Contact phone.")),
    Column("type", "网点类型", "Type", True,
           ("类型", "type", "outlet type"),
           "收集型", _l("收集型 (collection) or 集中贮存型 (centralized storage).")),
    Column("storage_area_m2", "贮存面积（平方米）", "Storage area (m2)", True,
           ("贮存面积", "贮存场地面积", "面积", "storage area", "storage_area_m2", "area"),
           "20", _l("Square metres.")),
    Column("max_stored_weight_t", "最大贮存量（吨）", "Max stored weight (t)", True,
           ("最大贮存量", "贮存能力", "最大贮存重量", "max stored weight", "max_stored_weight_t",
            "maximum stored weight"),
           "4", _l("Tonnes held at most at any one time.")),
    Column("annual_capacity_t", "年处理能力（吨）", "Annual capacity (t)", True,
           ("年处理能力", "年回收能力", "年收集能力", "annual capacity", "annual_capacity_t"),
           "300", _l("Tonnes per year.")),
    Column("establishment", "建设方式", "Establishment", True,
           ("建设形式", "建设类型", "establishment", "established as"),
           "自建", _l("自建 (self-built), 共建 (co-built) or 授权 (authorized).")),
    Column("established_with", "合作方", "Partners", False,
           ("共建方", "授权方", "合作企业", "partners", "established with", "established_with"),
           "", _l("Co-building or authorizing parties; defaults to the enterprise when it is not "
                  "the importing provider.")),
    Column("lon", "经度", "Longitude", False, ("longitude", "lon", "lng"), "",
           _l("Optional; without coordinates the outlet sits at its district centre.")),
    Column("lat", "纬度", "Latitude", False, ("latitude", "lat"), "", _l("Optional.")),
)
COLUMN_BY_FIELD = {c.field: c for c in COLUMNS}

TYPE_VALUES = {
    "收集型": OutletType.COLLECTION, "收集": OutletType.COLLECTION, "收集型网点": OutletType.COLLECTION,
    "collection": OutletType.COLLECTION,
    "集中贮存型": OutletType.CENTRALIZED_STORAGE, "集中贮存": OutletType.CENTRALIZED_STORAGE,
    "集中贮存型网点": OutletType.CENTRALIZED_STORAGE, "集中存储型": OutletType.CENTRALIZED_STORAGE,
    "centralizedstorage": OutletType.CENTRALIZED_STORAGE,
    "centralisedstorage": OutletType.CENTRALIZED_STORAGE,
}
ESTABLISHMENT_VALUES = {
    "自建": Establishment.SELF_BUILT, "selfbuilt": Establishment.SELF_BUILT,
    "共建": Establishment.CO_BUILT, "cobuilt": Establishment.CO_BUILT,
    "jointlybuilt": Establishment.CO_BUILT, "合建": Establishment.CO_BUILT,
    "授权": Establishment.AUTHORIZED, "authorized": Establishment.AUTHORIZED,
    "authorised": Establishment.AUTHORIZED, "授权建设": Establishment.AUTHORIZED,
}
MUNICIPALITY_CITY_CELLS = {"市辖区", "县", "城区", "郊县"}
# Fields an import writes; on re-import an outlet is "changed" when one of them differs.
COMPARED = ("name", "address", "province_code", "city_code", "district_code", "type",
            "storage_area_m2", "max_stored_weight_t", "annual_capacity_t", "contact_name",
            "contact_phone", "establishment", "established_with")


# --- pure helpers ---------------------------------------------------------------------------

_HEADER_NOISE = str.maketrans("", "", " \t\r\n_-/\\:*.。、")
_BRACKETED = re.compile(r"[(\[【].*?[)\]】]")  # units and notes: 贮存面积（平方米）, 区（县）


def normalize_header(text: object) -> str:
    folded = unicodedata.normalize("NFKC", str(text or "")).lower()
    return _BRACKETED.sub("", folded).translate(_HEADER_NOISE)


def normalize_value(text: object) -> str:
    """For keys and value lookups: NFKC, no whitespace, lower case."""
    return "".join(unicodedata.normalize("NFKC", str(text or "")).split()).lower()


def _header_index() -> dict[str, str]:
    index = {}
    for column in COLUMNS:
        for name in (column.header_zh, column.header_en, column.field, *column.aliases):
            index.setdefault(normalize_header(name), column.field)
    return index


HEADER_INDEX = _header_index()


def row_key(cells: dict[str, str]) -> str:
    """The stable import key: SHA-256 over the row's normalized identifying cells."""
    parts = [normalize_value(cells.get(f)) for f in
             ("enterprise", "province", "city", "district", "address", "name")]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "reason": self.reason}


class ImportRejected(ValidationFailed):
    """Nothing was written; `rows` lists every problem found."""

    def __init__(self, message, rows: list[RowError]):
        self.rows = rows
        super().__init__(message, {"rows": [r.as_dict() for r in rows]})


@dataclass
class Table:
    header_line: int
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (line, cells)


def read_table(content: bytes, filename: str | None = None) -> Table:
    """The header row and data rows of an XLSX workbook's first sheet or of a CSV file."""
    name = (filename or "").lower()
    if name.endswith(".xls") or content[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise ImportRejected(_l("Old .xls workbooks are not supported; save as .xlsx or CSV."),
                             [RowError(0, "", str(_l("unsupported file type .xls")))])
    if content[:4] == b"PK\x03\x04" or name.endswith(".xlsx"):
        grid = _xlsx_rows(content)
    else:
        grid = _csv_rows(content)
    return _find_header(grid)


def _csv_rows(content: bytes) -> list[tuple[int, list[str]]]:
    try:
        text = decode_upload(content)
    except UnreadableUpload as exc:
        raise ImportRejected(exc.message, [RowError(0, "", exc.reason)]) from exc
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        return [(number, [c.strip() for c in row]) for number, row in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise ImportRejected(_l("The CSV file could not be read."),
                             [RowError(reader.line_num, "", str(exc))]) from exc


def _xlsx_rows(content: bytes) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        check_xlsx(content)
    except UnreadableUpload as exc:
        raise ImportRejected(exc.message, [RowError(0, "", exc.reason)]) from exc
    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRejected(_l("The workbook could not be read."),
                             [RowError(0, "", str(_l("not a valid .xlsx workbook")))]) from exc
    try:
        sheet = workbook.worksheets[0]
        rows = []
        for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
            rows.append((number, [_cell_text(v) for v in values]))
            if len(rows) > MAX_ROWS + HEADER_SEARCH_ROWS:
                break
        return rows
    finally:
        workbook.close()


def _find_header(grid: list[tuple[int, list[str]]]) -> Table:
    for position, (line, cells) in enumerate(grid[:HEADER_SEARCH_ROWS]):
        fields = {HEADER_INDEX.get(normalize_header(c)) for c in cells} - {None}
        if len(fields) >= 3 and ("enterprise" in fields or "address" in fields):
            data = [(n, c) for n, c in grid[position + 1:] if any(x.strip() for x in c)]
            return Table(line, cells, data)
    expected = "、".join(c.header_zh for c in COLUMNS if c.required)
    raise ImportRejected(_l("No header row found."),
                         [RowError(1, "", str(_l("no header row found; expected the columns %(cols)s",
                                                 cols=expected)))])


def map_columns(table: Table) -> tuple[dict[str, int], list[str], list[RowError]]:
    """({field: column index}, ignored headers, errors about the header row)."""
    mapping: dict[str, int] = {}
    ignored, errors = [], []
    for position, header in enumerate(table.headers):
        if not header.strip():
            continue
        column_field = HEADER_INDEX.get(normalize_header(header))
        if column_field is None:
            ignored.append(header)
        elif column_field in mapping:
            errors.append(RowError(table.header_line, header,
                                   str(_l("appears twice (also as “%(other)s”)",
                                          other=table.headers[mapping[column_field]]))))
        else:
            mapping[column_field] = position
    for column in COLUMNS:
        if column.required and column.field not in mapping:
            errors.append(RowError(table.header_line, column.header_zh,
                                   str(_l("required column is missing"))))
    return mapping, ignored, errors


# --- validation ---------------------------------------------------------------------------

@dataclass
class PreparedRow:
    line: int
    key: str
    values: dict  # Outlet column -> value
    explicit_coordinates: bool


@dataclass
class ImportResult:
    provider_id: int
    rows: int
    created: int
    updated: int
    unchanged: int
    file_sha256: str
    dry_run: bool = False
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)


class _Locator:
    """Province / city / district cells to divisions, with lookups built once per import."""

    def __init__(self, index: divisions.DivisionIndex):
        self.index = index
        self.provinces: dict[str, divisions.DivisionRef] = {}
        self.children: dict[str, dict[str, divisions.DivisionRef]] = {}
        for ref in index.by_code.values():
            names = {normalize_value(ref.name), normalize_value(ref.short_name)} - {""}
            if ref.level == "province":
                for n in names:
                    self.provinces[n] = ref
            else:
                parent = ref.province_code if ref.level == "prefecture" else ref.prefecture_code
                bucket = self.children.setdefault(parent or "", {})
                for n in names:
                    bucket.setdefault(n, ref)
        self.own_prefecture = {p.code: self.children.get(p.code, {}).get(normalize_value(p.name))
                               for p in self.provinces.values()}


def _location(locator: _Locator, cells: dict, header, line: int, errors: list, warnings: list):
    """(division code, full address) or None after adding errors."""
    province = locator.provinces.get(normalize_value(cells["province"]))
    if province is None:
        errors.append(RowError(line, header("province"), str(
            _l("“%(value)s” is not a province, autonomous region or municipality",
               value=cells["province"]) if cells["province"] else _l("is required"))))
        return None
    city_cell = normalize_value(cells["city"])
    prefectures = locator.children.get(province.code, {})
    prefecture = prefectures.get(city_cell)
    own = locator.own_prefecture.get(province.code)
    if prefecture is None and own is not None and (city_cell in MUNICIPALITY_CITY_CELLS or not city_cell):
        prefecture = own
    if prefecture is None:
        errors.append(RowError(line, header("city"), str(
            _l("“%(value)s” is not a prefecture-level city of %(province)s",
               value=cells["city"], province=province.name) if cells["city"] else _l("is required"))))
        return None
    district = None
    district_cell = cells.get("district", "")
    if district_cell:
        district = locator.children.get(prefecture.code, {}).get(normalize_value(district_cell))
    address = cells["address"]
    full = _full_address(province, prefecture, district, district_cell, address)
    if district is None:
        resolved = locator.index.resolve(full)
        if resolved is not None and resolved.prefecture is not None \
                and resolved.prefecture.code == prefecture.code and resolved.district is not None:
            district = resolved.district
        elif district_cell:
            warnings.append(RowError(line, header("district"), str(
                _l("“%(value)s” is not a district of %(city)s; the outlet is placed at the city",
                   value=district_cell, city=prefecture.name))))
    return (district or prefecture).code, full


def _full_address(province, prefecture, district, district_cell: str, address: str) -> str:
    """The address as people write it, led by province, city and district once."""
    text = "".join(address.split())
    starts = [province.name, province.short_name]
    if any(text.startswith(s) for s in starts if s):
        return text
    prefix = province.name
    if prefecture.name != province.name:
        if text.startswith(prefecture.name) or text.startswith(prefecture.short_name or "\0"):
            return prefix + text
        prefix += prefecture.name
    area = district.name if district is not None else district_cell
    if area and not text.startswith(area):
        prefix += area
    return prefix + text


def _choice(table: dict, value: str):
    return table.get(normalize_value(value).replace("_", "").replace("-", ""))


def validate(table: Table, mapping: dict[str, int], provider: Organization,
             on: date | None = None) -> tuple[list[PreparedRow], list[RowError], list[RowError]]:
    """Every row checked in memory: (prepared rows, errors, warnings)."""
    locator = _Locator(divisions.index())
    parameters = rule_sets.in_force(on or utcnow().date()).parameters
    headers = table.headers

    def header(column_field: str) -> str:
        position = mapping.get(column_field)
        return headers[position] if position is not None else COLUMN_BY_FIELD[column_field].header_zh

    prepared: list[PreparedRow] = []
    errors: list[RowError] = []
    warnings: list[RowError] = []
    seen: dict[str, int] = {}
    own_name = normalize_value(provider.legal_name)
    for line, raw in table.rows:
        cells = {f: (raw[i].strip() if i < len(raw) else "") for f, i in mapping.items()}
        for column in COLUMNS:
            cells.setdefault(column.field, "")
        row_errors: list[RowError] = []
        if not cells["enterprise"]:
            row_errors.append(RowError(line, header("enterprise"), str(_l("is required"))))
        if not cells["address"]:
            row_errors.append(RowError(line, header("address"), str(_l("is required"))))
        outlet_type = _choice(TYPE_VALUES, cells["type"])
        if outlet_type is None:
            row_errors.append(RowError(line, header("type"), str(
                _l("“%(value)s” is not an outlet type; use 收集型 (collection) or "
                   "集中贮存型 (centralized_storage)", value=cells["type"]))))
        establishment = _choice(ESTABLISHMENT_VALUES, cells["establishment"])
        if establishment is None:
            row_errors.append(RowError(line, header("establishment"), str(
                _l("“%(value)s” is not a way of establishment; use 自建, 共建 or 授权 "
                   "(self_built, co_built, authorized)", value=cells["establishment"]))))
        location = None
        if cells["address"]:
            location = _location(locator, cells, header, line, row_errors, warnings)
        name = cells["name"]
        if not name and cells["enterprise"] and location is not None:
            place = locator.index.get(location[0])
            name = f"{cells['enterprise']}{place.name if place else ''}回收服务网点"
        partner = cells["established_with"]
        if not partner and cells["enterprise"] and normalize_value(cells["enterprise"]) != own_name:
            partner = cells["enterprise"]
        data = {
            "name": name, "address": location[1] if location else cells["address"],
            "contact_name": cells["contact_name"], "contact_phone": cells["contact_phone"],
            "established_with": partner, "facilities": None, "opening_hours": None,
            "storage_area_m2": _number(cells["storage_area_m2"]),
            "max_stored_weight_t": _number(cells["max_stored_weight_t"]),
            "annual_capacity_t": _number(cells["annual_capacity_t"]),
            "establishment": establishment.value if establishment else None,
            "chemistries": [], "safety_classes": [],
            "lat": cells["lat"] or None, "lon": cells["lon"] or None,
        }
        if location is not None:
            data["division_code"] = location[0]
        if outlet_type is not None:
            data["type"] = outlet_type.value
        # The rule set is fetched once per file, not once per row (that lookup was 85 % of
        # the time of a 10,000-row import).
        clean, field_errors = outlets.check_fields(data, creating=False, on=on, parameters=parameters)
        reported = {e.column for e in row_errors}
        for name_of_field, messages in field_errors.items():
            if name_of_field == "division_code":
                continue
            if name_of_field == "address" and location is None:
                continue  # the province, city or address cell was already named as the cause
            if name_of_field == "name" and not name:
                continue  # no name to derive: the enterprise or the place is reported itself
            column = header(name_of_field) if name_of_field in COLUMN_BY_FIELD else name_of_field
            if column in reported:
                continue
            row_errors.extend(RowError(line, column, str(m)) for m in messages)
        key = row_key(cells)
        if key in seen and not row_errors:
            row_errors.append(RowError(line, header("address"), str(
                _l("repeats line %(line)s (same enterprise, place, address and name)",
                   line=seen[key]))))
        seen.setdefault(key, line)
        if row_errors:
            errors.extend(row_errors)
            continue
        prepared.append(PreparedRow(line, key, clean, bool(cells["lat"] and cells["lon"])))
    return prepared, errors, warnings


def _number(text: str):
    """Spreadsheet numbers arrive as text: drop thousands separators and a trailing unit."""
    cleaned = normalize_value(text).replace(",", "")
    for unit in ("m2", "平方米", "平米", "吨", "t"):
        if cleaned.endswith(unit) and cleaned[:-len(unit)]:
            cleaned = cleaned[:-len(unit)]
            break
    return cleaned or None


# --- the import ---------------------------------------------------------------------------

def target_provider(actor: Actor, provider_id: int | None) -> Organization:
    """The organization the rows go to: the operator's choice, or the caller's own provider."""
    if permissions.operator_membership(actor.user) is not None:
        permissions.require_operator(actor.user, "reference.manage")
        if provider_id is None:
            raise ValidationFailed(_l("Choose the provider organization the outlets belong to."),
                                   {"provider_id": [_l("is required for operators")]})
        provider = db.session.execute(
            select(Organization).where(Organization.id == provider_id,
                                       Organization.kind == OrgKind.PROVIDER)
        ).unique().scalar_one_or_none()
        if provider is None:
            raise NotFound("provider organization", provider_id)
        return provider
    query = (select(Organization).join(Membership, Membership.organization_id == Organization.id)
             .where(Membership.user_id == actor.user_id, Organization.kind == OrgKind.PROVIDER))
    if provider_id is not None:
        query = query.where(Organization.id == provider_id)
    candidates = list(db.session.execute(query.order_by(Organization.id)).unique().scalars())
    if provider_id is not None and not candidates:
        raise NotFound("provider organization", provider_id)
    if not candidates:
        raise PermissionDenied(_l("Only site providers (for their own outlets) and platform "
                                  "operators can import outlets."))
    if len(candidates) > 1:
        raise ValidationFailed(_l("You belong to several provider organizations; choose one."),
                               {"provider_id": [_l("is required")]})
    return candidates[0]


def import_outlets(actor: Actor, provider: Organization, content: bytes,
                   filename: str | None = None, *, dry_run: bool = False) -> ImportResult:
    """Validate every row, then create or update outlets in bulk; nothing on any error."""
    if permissions.operator_membership(actor.user) is not None:
        permissions.require_operator(actor.user, "reference.manage")
    else:
        permissions.require(actor.user, "outlets.manage", provider)
    if provider.kind is not OrgKind.PROVIDER:
        raise ValidationFailed(_l("Outlets belong to site-provider organizations."),
                               {"provider_id": [_l("is not a provider organization")]})
    if not content:
        raise ImportRejected(_l("The file is empty."), [RowError(0, "", str(_l("the file is empty")))])
    digest = hashlib.sha256(content).hexdigest()
    table = read_table(content, filename)
    if len(table.rows) > MAX_ROWS:
        raise ImportRejected(_l("Too many rows."), [RowError(
            table.header_line, "", str(_l("at most %(n)s rows per file", n=f"{MAX_ROWS:,}")))])
    mapping, ignored, header_errors = map_columns(table)
    if header_errors:
        raise ImportRejected(_l("The header row needs correcting; nothing was imported."),
                             header_errors)
    if not table.rows:
        raise ImportRejected(_l("The file has no data rows."),
                             [RowError(table.header_line, "", str(_l("no data rows below the header")))])
    prepared, errors, warnings = validate(table, mapping, provider)
    if errors:
        lines = len({e.line for e in errors})
        raise ImportRejected(_l("%(n)s of %(total)s rows need correcting; nothing was imported.",
                                n=lines, total=len(table.rows)), errors)
    created, updated, unchanged = _write(provider, prepared, dry_run=dry_run)
    result = ImportResult(provider.id, len(prepared), created, updated, unchanged, digest,
                          dry_run, ignored, warnings)
    if not dry_run:
        audit.record(actor, "outlet.imported", "organization", provider.id,
                     organization_id=provider.id,
                     data={"file_sha256": digest, "filename": (filename or "")[:200],
                           "rows": result.rows, "created": created, "updated": updated,
                           "unchanged": unchanged})
    return result


def _write(provider: Organization, prepared: list[PreparedRow], *, dry_run: bool) -> tuple[int, int, int]:
    columns = [getattr(Outlet, c) for c in COMPARED]
    existing = {row.import_key: row for row in db.session.execute(
        select(Outlet.id, Outlet.import_key, Outlet.lat, Outlet.lon, *columns)
        .where(Outlet.provider_id == provider.id, Outlet.import_key.is_not(None)))}
    now = utcnow()
    inserts, updates, unchanged = [], [], 0
    for row in prepared:
        values = row.values
        current = existing.get(row.key)
        if current is None:
            outlet_like = SimpleNamespace(name=values["name"], address=values["address"])
            inserts.append({
                **values, "provider_id": provider.id, "status": OutletStatus.DRAFT,
                "import_key": row.key, "compliant": False, "certified": False,
                "search_text": outlets.search_text_for(outlet_like, provider.legal_name),
                "created_at": now, "updated_at": now,
            })
            continue
        changed = {c: values[c] for c in COMPARED if getattr(current, c) != values.get(c)}
        moved = bool({"province_code", "city_code", "district_code"} & changed.keys())
        # Coordinates a provider set on the map survive a re-import unless the file gives
        # coordinates or the outlet moved to another division.
        if row.explicit_coordinates or moved:
            for c in ("lat", "lon"):
                if getattr(current, c) != values[c]:
                    changed[c] = values[c]
        if not changed:
            unchanged += 1
            continue
        if "name" in changed or "address" in changed:
            outlet_like = SimpleNamespace(name=values["name"], address=values["address"])
            changed["search_text"] = outlets.search_text_for(outlet_like, provider.legal_name)
        updates.append({"id": current.id, **changed, "updated_at": now})
    if not dry_run:
        for start in range(0, len(inserts), BATCH):
            db.session.execute(insert(Outlet), inserts[start:start + BATCH])
        # Bulk UPDATE by primary key groups rows by the set of keys they change.
        by_keys: dict[tuple, list[dict]] = {}
        for values in updates:
            by_keys.setdefault(tuple(sorted(values)), []).append(values)
        for group in by_keys.values():
            db.session.execute(update(Outlet), group)
        db.session.flush()
    return len(inserts), len(updates), unchanged


# --- templates ----------------------------------------------------------------------------

def columns_as_data() -> list[dict]:
    """The column layout, for the import page and GET import-template?format=json."""
    return [{"field": c.field, "header_zh": c.header_zh, "header_en": c.header_en,
             "required": c.required, "aliases": list(c.aliases), "example": c.example,
             "description": str(c.help)} for c in COLUMNS]


def template_csv() -> bytes:
    """Header row only (Chinese), UTF-8 with a BOM so spreadsheet programs read it right."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([c.header_zh for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    """A workbook: the header row to fill in, drop-downs for type and establishment, and a
    second sheet describing each column with an example."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "网点 Outlets"
    sheet.append([c.header_zh for c in COLUMNS])
    for position, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=position)
        cell.font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(position)].width = max(12, len(column.header_zh) * 2 + 4)
    sheet.freeze_panes = "A2"
    for column_field, choices in (("type", "收集型,集中贮存型"), ("establishment", "自建,共建,授权")):
        letter = get_column_letter([c.field for c in COLUMNS].index(column_field) + 1)
        validation = DataValidation(type="list", formula1=f'"{choices}"', allow_blank=False)
        validation.add(f"{letter}2:{letter}{MAX_ROWS + 1}")
        sheet.add_data_validation(validation)
    guide = workbook.create_sheet("说明 Guide")
    guide.append(["列名", "Column", "必填 Required", "说明 Description", "示例 Example",
                  "也接受的列名 Aliases"])
    for cell in guide[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        guide.append([column.header_zh, column.header_en, "是 yes" if column.required else "否 no",
                      str(column.help), column.example, ", ".join(column.aliases)])
    for letter, width in zip("ABCDEF", (20, 22, 14, 60, 28, 50), strict=True):
        guide.column_dimensions[letter].width = width
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def rows_as_csv(rows: list[list[str]], headers: list[str] | None = None) -> bytes:
    """A CSV file in the template's layout (tests and examples)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers or [c.header_zh for c in COLUMNS])
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def provider_choices(actor: Actor) -> list[tuple[int, str]]:
    """Every provider organization, for an operator choosing where imported rows go."""
    permissions.require_operator(actor.user, "reference.manage")
    return [(row.id, row.legal_name) for row in db.session.execute(
        select(Organization.id, Organization.legal_name)
        .where(Organization.kind == OrgKind.PROVIDER).order_by(Organization.legal_name))]


def offered_to(user) -> bool:
    """Whether the import page belongs in this user's navigation."""
    if permissions.operator_membership(user) is not None:
        return True
    return any(m.organization.kind is OrgKind.PROVIDER for m in getattr(user, "memberships", ()))
