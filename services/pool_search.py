"""The public pool search: listed outlets by place, type, capacity, price, text and distance.

Every search reads the `outlets` table through its denormalized search columns only (plus the
provider's name, joined for the page's rows), in at most two statements and no per-row query:
- filters alone: one COUNT and one page SELECT, each an index range on `ix_outlets_status_*`;
  the page is chosen on ids in a subquery so only its own rows are read in full;
- free text (LIKE on `search_text`, which no B-tree can seek): one page SELECT that also
  carries the total as a window count, so the candidate rows are read once, not twice; within
  a province the text is matched inside the province's index, across the whole pool (on
  PostgreSQL) a GIN index on the text's bigrams picks the candidates;
- near a point: the candidates in the point's latitude/longitude bounding box (the
  `ix_outlets_status_lat_lon` range, every other filter in SQL), filtered and ordered by exact
  great-circle distance in Python, then the page's rows by id. The radius is capped, so the
  candidate set stays bounded.

`parse()` turns request parameters (strings from a form or values already typed by the API
schema) into `Criteria`, naming each bad parameter; the rest of this module takes `Criteria`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, func, literal_column, nulls_last, select
from sqlalchemy.dialects import postgresql

from app.extensions import db
from app.models import Organization, Outlet, OutletStatus, OutletType
from services import assessments, checklist, data_versions, divisions, outlets
from services.divisions import DivisionIndex, DivisionRef
from services.errors import ValidationFailed

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
DEFAULT_RADIUS_KM = 50.0
MAX_RADIUS_KM = 500.0
MAX_QUERY_LENGTH = 100
MAX_QUERY_TERMS = 5
MAP_POINT_LIMIT = 5_000
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0

# sort key -> Outlet column; "-" in front sorts descending. Missing values always go last and
# the outlet id breaks every tie, so a page never shifts between two requests.
SORT_COLUMNS = {
    "name": Outlet.name,
    "available_capacity_t": Outlet.available_capacity_t,
    "annual_fee_fen": Outlet.annual_fee_fen,
    "handling_fee_fen_per_t": Outlet.handling_fee_fen_per_t,
    "listed_at": Outlet.listed_at,
}
SORTS = (*SORT_COLUMNS, *(f"-{k}" for k in SORT_COLUMNS), "distance")

_NEAR_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*[,，]\s*([-+]?\d+(?:\.\d+)?)\s*$")
_TRUE, _FALSE = {"1", "true", "yes", "on", "y", "t"}, {"0", "false", "no", "off", "n", "f", ""}


@dataclass(frozen=True)
class Criteria:
    province_code: str | None = None
    city_code: str | None = None
    district_code: str | None = None
    type: OutletType | None = None
    certified: bool = False
    min_capacity_t: float | None = None
    max_annual_fee_fen: int | None = None
    terms: tuple[str, ...] = ()
    near: tuple[float, float] | None = None
    radius_km: float | None = None
    sort: str = "name"
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def as_params(self) -> dict[str, str]:
        """The criteria as canonical query parameters (codes, not names), for links."""
        params = {
            "province": self.province_code, "city": self.city_code, "district": self.district_code,
            "type": self.type.value if self.type else None,
            "certified": "true" if self.certified else None,
            "min_capacity_t": _plain(self.min_capacity_t),
            "max_annual_fee_fen": _plain(self.max_annual_fee_fen),
            "q": " ".join(self.terms) or None,
            "near": f"{_plain(self.near[0])},{_plain(self.near[1])}" if self.near else None,
            "radius_km": _plain(self.radius_km) if self.near else None,
            "sort": self.sort if self.sort != default_sort(self.near is not None) else None,
        }
        return {k: v for k, v in params.items() if v is not None}


@dataclass
class Page:
    items: list[dict]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _plain(number: float | int | None) -> str | None:
    if number is None:
        return None
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def default_sort(near: bool) -> str:
    return "distance" if near else "name"


# --- pure geometry ------------------------------------------------------------------------

def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a sphere of the mean Earth radius (error < 0.5 % vs WGS-84)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def bounding_box(lat: float, lon: float, radius_km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lon, max_lon) enclosing every point within radius_km.

    The longitude span is taken at the box's latitude farthest from the equator, where a
    degree of longitude is shortest, so the box never cuts the circle off.
    """
    dlat = radius_km / KM_PER_DEGREE
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    widest = max(abs(min_lat), abs(max_lat))
    cos_lat = math.cos(math.radians(widest))
    if cos_lat < 1e-6 or radius_km / (KM_PER_DEGREE * cos_lat) >= 180.0:
        return min_lat, max_lat, -180.0, 180.0
    dlon = radius_km / (KM_PER_DEGREE * cos_lat)
    return min_lat, max_lat, lon - dlon, lon + dlon


def parse_near(text: str) -> tuple[float, float] | None:
    """"lat,lon" as two floats within range, or None."""
    match = _NEAR_RE.match(text or "")
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return lat, lon


def order_candidates(candidates: list[tuple], sort: str) -> list[tuple]:
    """Order (id, distance_km, sort value) tuples like the SQL ORDER BY: nulls last, id breaks ties."""
    if sort == "distance":
        return sorted(candidates, key=lambda c: (c[1], c[0]))
    descending = sort.startswith("-")
    by_id = sorted(candidates, key=lambda c: c[0])
    present = [c for c in by_id if c[2] is not None]
    missing = [c for c in by_id if c[2] is None]
    present.sort(key=lambda c: c[2], reverse=descending)  # stable: equal values keep id order
    return present + missing


# --- parameters ---------------------------------------------------------------------------

def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any, name: str, errors: dict, *, integer: bool = False,
            minimum: float = 0.0, maximum: float = 1e12) -> float | int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = int(value) if integer and not isinstance(value, float) else float(value)
    except (TypeError, ValueError):
        errors[name] = [_l("must be a whole number") if integer else _l("must be a number")]
        return None
    if integer and isinstance(number, float):
        if not number.is_integer():
            errors[name] = [_l("must be a whole number")]
            return None
        number = int(number)
    if number != number or not minimum <= number <= maximum:
        errors[name] = [_l("must be between %(low)s and %(high)s", low=_plain(minimum),
                           high=_plain(maximum))]
        return None
    return number


def _at_level(resolution, level: str) -> DivisionRef | None:
    """The resolution's division of `level`, if that is what it designates (not a finer one)."""
    if level == "district":
        return resolution.district
    if resolution.district is not None:
        return None
    if level == "prefecture":
        return resolution.prefecture
    # A municipality resolves to its own prefecture-level row too; that still names the province.
    if resolution.prefecture is None or resolution.prefecture.name == resolution.province.name:
        return resolution.province
    return None


def _division(value: Any, level: str, name: str, errors: dict, index: DivisionIndex,
              context: list[DivisionRef]) -> DivisionRef | None:
    """A division of `level` named by its 6-digit code or its name (resolved within context)."""
    text = _text(value)
    if not text:
        return None
    found = None
    if text.isdigit():
        resolution = index.resolution_for(text) if len(text) == 6 else None
    else:
        # "朝阳" alone is ambiguous; within the chosen province (and city) it is not.
        prefix = "".join(dict.fromkeys(ref.name for ref in context))
        resolution = index.resolve(prefix + text) if prefix else None
        found = _at_level(resolution, level) if resolution else None
        if found is None:
            resolution = index.resolve(text)
    if resolution is None:
        errors[name] = [_l("%(value)s names no division, or several: give the 6-digit code, or "
                           "choose the province (and city) too", value=text)]
        return None
    found = found or _at_level(resolution, level)
    if found is None:
        expected = {"province": _l("a province"), "prefecture": _l("a prefecture-level city"),
                    "district": _l("a district or county")}[level]
        errors[name] = [_l("%(value)s is not %(expected)s", value=text, expected=expected)]
        return None
    for ref in context:
        owner = {"province": found.province_code, "prefecture": found.prefecture_code}.get(ref.level)
        if owner != ref.code:
            errors[name] = [_l("%(value)s does not lie in %(parent)s", value=text, parent=ref.name)]
            return None
    return found


def parse(params: Mapping[str, Any], *, index: DivisionIndex | None = None) -> Criteria:
    """Criteria from request parameters; ValidationFailed naming every bad parameter."""
    errors: dict[str, list] = {}
    index = index or divisions.index()
    context: list[DivisionRef] = []
    codes: dict[str, str | None] = {}
    for name, level in (("province", "province"), ("city", "prefecture"), ("district", "district")):
        ref = _division(params.get(name), level, name, errors, index, context)
        codes[name] = ref.code if ref else None
        if ref is not None:
            context.append(ref)

    outlet_type = None
    if _text(params.get("type")):
        try:
            outlet_type = OutletType(_text(params.get("type")))
        except ValueError:
            errors["type"] = [_l("must be one of %(allowed)s",
                                 allowed=", ".join(t.value for t in OutletType))]

    certified = params.get("certified")
    if not isinstance(certified, bool):
        flag = _text(certified).lower()
        certified = flag in _TRUE
        if flag not in _TRUE | _FALSE:
            errors["certified"] = [_l("must be true or false")]

    min_capacity = _number(params.get("min_capacity_t"), "min_capacity_t", errors, maximum=1e7)
    max_fee = _number(params.get("max_annual_fee_fen"), "max_annual_fee_fen", errors,
                      integer=True, maximum=10**12)

    q = _text(params.get("q"))
    if len(q) > MAX_QUERY_LENGTH:
        errors["q"] = [_l("at most %(n)s characters", n=MAX_QUERY_LENGTH)]
    terms = tuple(dict.fromkeys(q.lower().split()))[:MAX_QUERY_TERMS]

    near = None
    if _text(params.get("near")):
        near = parse_near(_text(params.get("near")))
        if near is None:
            errors["near"] = [_l("must be \"lat,lon\" in decimal degrees, e.g. 22.54,114.06")]
    radius = _number(params.get("radius_km"), "radius_km", errors, minimum=0.001,
                     maximum=MAX_RADIUS_KM)
    if radius is not None and not _text(params.get("near")):
        errors["radius_km"] = [_l("needs near=lat,lon")]

    sort = _text(params.get("sort")) or default_sort(near is not None)
    if sort not in SORTS:
        errors["sort"] = [_l("must be one of %(allowed)s", allowed=", ".join(SORTS))]
    elif sort == "distance" and not _text(params.get("near")):
        errors["sort"] = [_l("distance needs near=lat,lon")]

    page = _number(params.get("page"), "page", errors, integer=True, minimum=1, maximum=MAX_PAGE)
    per_page = _number(params.get("per_page"), "per_page", errors, integer=True, minimum=1,
                       maximum=MAX_PER_PAGE)
    if errors:
        names = ", ".join(sorted(errors))
        raise ValidationFailed(_l("Invalid search parameters: %(names)s.", names=names), errors)
    return Criteria(
        province_code=codes["province"], city_code=codes["city"], district_code=codes["district"],
        type=outlet_type, certified=certified, min_capacity_t=min_capacity,
        max_annual_fee_fen=max_fee, terms=terms, near=near,
        radius_km=(radius or DEFAULT_RADIUS_KM) if near else None, sort=sort,
        page=page or 1, per_page=per_page or DEFAULT_PER_PAGE)


# --- queries ------------------------------------------------------------------------------

_ITEM_COLUMNS = (
    Outlet.id, Outlet.name, Outlet.address, Outlet.province_code, Outlet.city_code,
    Outlet.district_code, Outlet.type, Outlet.certified, Outlet.compliant,
    Outlet.available_capacity_t, Outlet.annual_fee_fen, Outlet.handling_fee_fen_per_t,
    Outlet.lat, Outlet.lon, Outlet.listed_at, Outlet.provider_id,
    Organization.legal_name.label("provider_name"),
)


def _conditions(criteria: Criteria) -> list:
    where = [Outlet.status == OutletStatus.LISTED]
    if criteria.province_code:
        where.append(Outlet.province_code == criteria.province_code)
    if criteria.city_code:
        where.append(Outlet.city_code == criteria.city_code)
    if criteria.district_code:
        where.append(Outlet.district_code == criteria.district_code)
    if criteria.type is not None:
        where.append(Outlet.type == criteria.type)
    if criteria.certified:
        where.append(Outlet.certified.is_(True))
    if criteria.min_capacity_t is not None:
        where.append(Outlet.available_capacity_t >= criteria.min_capacity_t)
    if criteria.max_annual_fee_fen is not None:
        where.append(Outlet.annual_fee_fen <= criteria.max_annual_fee_fen)
    for term in criteria.terms:
        where.append(Outlet.search_text.contains(term, autoescape=True))
    if criteria.terms and not (criteria.province_code or criteria.city_code or criteria.district_code):
        where += _bigram_candidates(criteria.terms)
    if criteria.near is not None:
        min_lat, max_lat, min_lon, max_lon = bounding_box(*criteria.near, criteria.radius_km)
        where += [Outlet.lat.between(min_lat, max_lat), Outlet.lon.between(min_lon, max_lon)]
    return where


# PostgreSQL's generated column of the text's bigrams (migration 0015); the models do not map it.
_SEARCH_BIGRAMS = literal_column("outlets.search_bigrams", postgresql.ARRAY(Text))


def _bigram_candidates(terms: tuple[str, ...]) -> list:
    """Free text across the whole pool on PostgreSQL: every two-character piece of a term is
    one of the text's, so the GIN index on the text's bigrams (migration 0015) finds the
    candidates and LIKE confirms them. Within a place the place's index already narrows the
    rows (a province's holds the text itself); a single character has no pair."""
    if db.engine.dialect.name != "postgresql":
        return []
    grams = sorted({term[i:i + 2] for term in terms for i in range(len(term) - 1)})
    return [_SEARCH_BIGRAMS.contains(grams)] if grams else []


def _order_by(sort: str) -> list:
    column = SORT_COLUMNS[sort.lstrip("-")]
    direction = column.desc() if sort.startswith("-") else column.asc()
    # Names are never null; a NULLS LAST on them would only keep the planner from the index.
    return [direction if column is Outlet.name else nulls_last(direction), Outlet.id.asc()]


def _rows_select():
    return select(*_ITEM_COLUMNS).join(Organization, Organization.id == Outlet.provider_id)


def _item(row, index: DivisionIndex, distance: float | None = None) -> dict:
    def name_of(code: str | None) -> str | None:
        ref = index.get(code) if code else None
        return ref.name if ref else None

    item = {
        "id": row.id, "name": row.name, "address": row.address,
        "province": row.province_code, "city": row.city_code, "district": row.district_code,
        "province_name": name_of(row.province_code), "city_name": name_of(row.city_code),
        "district_name": name_of(row.district_code),
        "type": row.type, "certified": bool(row.certified), "compliant": bool(row.compliant),
        "available_capacity_t": row.available_capacity_t, "annual_fee_fen": row.annual_fee_fen,
        "handling_fee_fen_per_t": row.handling_fee_fen_per_t, "lat": row.lat, "lon": row.lon,
        "listed_at": row.listed_at, "provider_id": row.provider_id,
        "provider_name": row.provider_name,
    }
    if distance is not None:
        item["distance_km"] = round(distance, 3)
    return item


def _candidates_select(criteria: Criteria, extra_columns=()):
    sort_column = None if criteria.sort == "distance" else SORT_COLUMNS[criteria.sort.lstrip("-")]
    columns = [Outlet.id, Outlet.lat, Outlet.lon, *extra_columns]
    if sort_column is not None:
        columns.append(sort_column)
    return select(*columns).where(*_conditions(criteria))


def _near_candidates(criteria: Criteria, extra_columns=()) -> list[tuple]:
    """(id, distance_km, sort value, lat, lon, *extra) within the radius, in the criteria's order.

    Reads only the bounding box's candidates (index range on status, lat, lon), with every
    other filter applied in SQL.
    """
    has_sort_value = criteria.sort != "distance"
    lat0, lon0 = criteria.near
    radius, extra = criteria.radius_km, len(extra_columns)
    kept = []
    for row in db.session.execute(_candidates_select(criteria, extra_columns)):
        distance = haversine_km(lat0, lon0, row[1], row[2])
        if distance <= radius:
            value = row[-1] if has_sort_value else None
            kept.append((row[0], distance, value, row[1], row[2], *row[3:3 + extra]))
    return order_candidates(kept, criteria.sort)


def _count_select(criteria: Criteria):
    return select(func.count()).select_from(Outlet).where(*_conditions(criteria))


def _page_select(criteria: Criteria, limit: int, offset: int = 0):
    """The page's rows. The window is chosen on ids alone in a subquery, so the sort carries
    (key, id) pairs and, where an index covers filters and key, never reads the table; only
    the page's rows are then read in full and joined to their provider."""
    order = _order_by(criteria.sort)
    window = (select(Outlet.id).where(*_conditions(criteria)).order_by(*order)
              .limit(limit).offset(offset))
    return _rows_select().where(Outlet.id.in_(window.scalar_subquery())).order_by(*order)


def _counted_page_select(criteria: Criteria, limit: int, offset: int):
    """The page's rows, each carrying the total as a window count: one pass over the table.

    Free text must read every candidate row anyway (no index serves LIKE '%…%'), so counting
    in the same pass halves the work; without text, a COUNT over a (covering) index is cheaper.
    """
    order = _order_by(criteria.sort)
    window = (select(Outlet.id.label("id"), func.count().over().label("total"))
              .where(*_conditions(criteria)).order_by(*order).limit(limit).offset(offset)
              .subquery("matches"))
    return (select(*_ITEM_COLUMNS, window.c.total).select_from(window)
            .join(Outlet, Outlet.id == window.c.id)
            .join(Organization, Organization.id == Outlet.provider_id).order_by(*order))


def statements_for(params: Mapping[str, Any]) -> list:
    """The statements a search with these parameters runs, for EXPLAIN (bench/search.py)."""
    criteria = parse(params)
    if criteria.near is not None:
        return [_candidates_select(criteria), _rows_select().where(Outlet.id.in_([1, 2, 3]))]
    offset = (criteria.page - 1) * criteria.per_page
    if criteria.terms:
        return [_counted_page_select(criteria, criteria.per_page, offset)]
    return [_count_select(criteria), _page_select(criteria, criteria.per_page, offset)]


def _rows_by_id(ids: list[int]) -> dict[int, Any]:
    if not ids:
        return {}
    stmt = _rows_select().where(Outlet.id.in_(ids))
    return {row.id: row for row in db.session.execute(stmt)}


def search(criteria: Criteria) -> Page:
    """One page of listed outlets matching the criteria, with the total count.

    Kept per process until the pool changes (services.data_versions): the public registry asks
    the same few questions over and over, and a pool changes far less often than it is read.
    """
    page = data_versions.cached("pool", ("search", criteria), lambda: _search(criteria))
    return Page([dict(item) for item in page.items], page.total, page.page, page.per_page)


def _search(criteria: Criteria) -> Page:
    index = divisions.index()
    offset = (criteria.page - 1) * criteria.per_page
    if criteria.near is not None:
        candidates = _near_candidates(criteria)
        window = candidates[offset:offset + criteria.per_page]
        rows = _rows_by_id([c[0] for c in window])
        items = [_item(rows[c[0]], index, c[1]) for c in window if c[0] in rows]
        return Page(items, len(candidates), criteria.page, criteria.per_page)
    if criteria.terms:
        rows = db.session.execute(_counted_page_select(criteria, criteria.per_page, offset)).all()
        total = rows[0].total if rows else 0
        if not rows and offset:  # past the last page: the window saw no row to count on
            total = db.session.scalar(_count_select(criteria)) or 0
        return Page([_item(row, index) for row in rows], total, criteria.page, criteria.per_page)
    total = db.session.scalar(_count_select(criteria)) or 0
    items = []
    if offset < total:
        stmt = _page_select(criteria, criteria.per_page, offset)
        items = [_item(row, index) for row in db.session.execute(stmt)]
    return Page(items, total, criteria.page, criteria.per_page)


def map_points(criteria: Criteria, limit: int = MAP_POINT_LIMIT) -> dict:
    """Up to `limit` matches as compact [id, lat, lon, name] points, in the criteria's order."""
    if criteria.near is not None:
        candidates = _near_candidates(criteria, (Outlet.name,))
        points = [[c[0], c[3], c[4], c[5]] for c in candidates[:limit]]
        return {"points": points, "total": len(candidates), "truncated": len(candidates) > limit}
    total = db.session.scalar(_count_select(criteria)) or 0
    stmt = (select(Outlet.id, Outlet.lat, Outlet.lon, Outlet.name).where(*_conditions(criteria))
            .order_by(*_order_by(criteria.sort)).limit(limit))
    points = [[r.id, r.lat, r.lon, r.name] for r in db.session.execute(stmt)]
    return {"points": points, "total": total, "truncated": total > limit}


def export_rows(criteria: Criteria, limit: int) -> tuple[list[dict], int]:
    """Up to `limit` matches in the criteria's order (pages ignored) and the total count."""
    index = divisions.index()
    if criteria.near is not None:
        candidates = _near_candidates(criteria)
        chosen = candidates[:limit]
        rows: dict[int, Any] = {}
        for start in range(0, len(chosen), 1000):  # keep each IN list modest
            rows.update(_rows_by_id([c[0] for c in chosen[start:start + 1000]]))
        return [_item(rows[c[0]], index, c[1]) for c in chosen if c[0] in rows], len(candidates)
    total = db.session.scalar(_count_select(criteria)) or 0
    rows_iter = db.session.execute(_page_select(criteria, limit))
    return [_item(row, index) for row in rows_iter], total


# --- one outlet ---------------------------------------------------------------------------

def public_detail(outlet_id: int) -> dict:
    """A listed outlet with its offer and its latest complete self-assessment (404 otherwise);
    kept per process until the pool changes, like a search, and shared with every request of
    the process: read it, never change it."""
    return data_versions.cached("pool", ("detail", outlet_id), lambda: _public_detail(outlet_id))


def _checklist_labels(version: str) -> tuple[dict, dict]:
    """A checklist version's category names and item titles, as plain data: read for every
    outlet detail, changed only with the reference data."""
    def read() -> tuple[dict, dict]:
        return ({c.code: {"position": c.position, "name_zh": c.name_zh, "name_en": c.name_en}
                 for c in checklist.categories(version)},
                {i.number: {"title_zh": i.title_zh, "title_en": i.title_en}
                 for i in checklist.items(version)})

    return data_versions.cached("pool", ("checklist labels", version), read)


def _public_detail(outlet_id: int) -> dict:
    outlet = outlets.get_public(outlet_id)
    index = divisions.index()
    row = _rows_by_id([outlet.id])[outlet.id]
    item = _item(row, index)
    item.update({
        "storage_area_m2": outlet.storage_area_m2, "max_stored_weight_t": outlet.max_stored_weight_t,
        "annual_capacity_t": outlet.annual_capacity_t, "chemistries": list(outlet.chemistries or []),
        "safety_classes": list(outlet.safety_classes or []), "facilities": outlet.facilities,
        "opening_hours": outlet.opening_hours, "establishment": outlet.establishment,
    })
    assessment = assessments.latest(outlet, complete_only=True)
    categories = []
    if assessment is not None and assessment.category_results:
        names, titles = _checklist_labels(assessment.checklist_version)
        ordered = sorted(assessment.category_results.items(),
                         key=lambda kv: (names[kv[0]]["position"] if kv[0] in names else 999, kv[0]))
        untitled = {"title_zh": "", "title_en": ""}
        for code, result in ordered:
            category = names.get(code, {"name_zh": code, "name_en": code})
            categories.append({
                "code": code, "name_zh": category["name_zh"], "name_en": category["name_en"],
                "applicable": int(result.get("applicable", 0)),
                "passed": int(result.get("passed", 0)),
                "failed": [{"number": n, **titles.get(n, untitled)} for n in result.get("failed", [])],
            })
    item["compliance"] = {
        "assessed": assessment is not None,
        "version": assessment.version if assessment else None,
        "checklist_version": assessment.checklist_version if assessment else None,
        "completed_at": assessment.completed_at if assessment else None,
        "passed": bool(assessment.passed) if assessment else False,
        "categories": categories,
    }
    offer = outlet.offer
    item["offer"] = None if offer is None else {
        "capacity_t_per_year": offer.capacity_t_per_year, "annual_fee_fen": offer.annual_fee_fen,
        "handling_fee_fen_per_t": offer.handling_fee_fen_per_t,
        "min_term_months": offer.min_term_months, "available_from": offer.available_from,
        "available_to": offer.available_to,
    }
    return item
