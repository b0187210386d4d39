"""Administrative divisions: lookups and free-text address resolution.

`DivisionIndex` is pure (built from plain rows, no database) so importers and tests can use it
directly; the module-level helpers read the `divisions` table and cache one index per process
(`reset_cache()` after reference data changes).
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import or_, select

from app.extensions import db
from app.models import Division, Region

DATA_DIR = Path(__file__).resolve().parent / "data"
DIVISIONS_CSV = DATA_DIR / "divisions.csv"
LEVELS = ("province", "prefecture", "district")
_FIELDS = ("code", "name", "short_name", "level", "parent_code", "province_code",
           "prefecture_code", "lat", "lon")


def read_csv(path: Path = DIVISIONS_CSV) -> list[dict]:
    """The shipped division rows as dicts; empty codes become None, coordinates floats."""
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for raw in csv.DictReader(f):
            row = {k: (raw[k] or None) for k in _FIELDS}
            row["lat"] = float(row["lat"]) if row["lat"] else None
            row["lon"] = float(row["lon"]) if row["lon"] else None
            rows.append(row)
    return rows


@dataclass(frozen=True, slots=True)
class DivisionRef:
    code: str
    name: str
    short_name: str
    level: str
    parent_code: str | None
    province_code: str
    prefecture_code: str | None
    lat: float | None
    lon: float | None

    @classmethod
    def of(cls, row) -> DivisionRef:
        if isinstance(row, dict):
            return cls(**{k: row.get(k) for k in _FIELDS})
        return cls(**{k: getattr(row, k) for k in _FIELDS})


@dataclass(frozen=True, slots=True)
class Resolution:
    province: DivisionRef | None
    prefecture: DivisionRef | None = None
    district: DivisionRef | None = None

    @property
    def best(self) -> DivisionRef:
        """The most specific division found."""
        return self.district or self.prefecture or self.province  # type: ignore[return-value]

    def as_dict(self) -> dict:
        def one(ref: DivisionRef | None) -> dict | None:
            return None if ref is None else {"code": ref.code, "name": ref.name}

        return {"province": one(self.province), "prefecture": one(self.prefecture),
                "district": one(self.district), "best": one(self.best)}


def _normalize(text: str) -> str:
    # NFKC folds full-width digits and letters; addresses often carry stray spaces.
    return "".join(unicodedata.normalize("NFKC", text).split())


class DivisionIndex:
    """Resolves names, codes and free-text addresses to a province/prefecture/district chain.

    Every full and short name goes into one dict; resolving scans the text's substrings
    (positions x distinct name lengths), never the list of names. Each matched division is a
    hypothesis scored by how many characters of the text its own chain (province, prefecture,
    itself) covers, so "江苏省南京市玄武区中山路" prefers 玄武区 over the city 中山. Ties go to
    the least specific hypothesis; ties at one level keep only what the candidates share.
    """

    def __init__(self, rows: Iterable):
        self.by_code: dict[str, DivisionRef] = {}
        for row in rows:
            ref = DivisionRef.of(row)
            self.by_code[ref.code] = ref
        self._names: dict[str, list[str]] = {}
        for ref in self.by_code.values():
            for name in {ref.name, ref.short_name}:
                if name and len(name) >= 2:
                    self._names.setdefault(name, []).append(ref.code)
        self._lengths = sorted({len(n) for n in self._names}, reverse=True)
        self._chains: dict[str, tuple[str, ...]] = {}
        for code in self.by_code:
            chain, cur = [], self.by_code.get(code)
            while cur is not None and len(chain) < 4:
                chain.append(cur.code)
                cur = self.by_code.get(cur.parent_code) if cur.parent_code else None
            self._chains[code] = tuple(reversed(chain))
        # A municipality's prefecture-level row carries the municipality's own name.
        self._own_prefecture = {
            ref.parent_code: ref.code for ref in self.by_code.values()
            if ref.level == "prefecture" and ref.parent_code
            and self.by_code.get(ref.parent_code) is not None
            and self.by_code[ref.parent_code].name == ref.name
        }
        # The pickers' lists, by code: all provinces, a province's prefecture-level cities, a
        # city's districts. Built once, so a page never scans all 3,000 divisions to fill them.
        members: dict[tuple[str, str | None], list[DivisionRef]] = {}
        for ref in sorted(self.by_code.values(), key=lambda r: r.code):
            within = {"prefecture": ref.province_code, "district": ref.prefecture_code}.get(ref.level)
            members.setdefault((ref.level, within), []).append(ref)
        self._members = {key: tuple(refs) for key, refs in members.items()}

    @classmethod
    def from_csv(cls, path: Path = DIVISIONS_CSV) -> DivisionIndex:
        return cls(read_csv(path))

    def __len__(self) -> int:
        return len(self.by_code)

    def get(self, code: str) -> DivisionRef | None:
        return self.by_code.get(code)

    def members(self, level: str, within: str | None = None) -> tuple[DivisionRef, ...]:
        """Divisions of `level` by code: the provinces; the prefecture-level cities `within` a
        province; the districts and counties `within` a prefecture-level city."""
        return self._members.get((level, within), ())

    def resolution_for(self, code: str) -> Resolution | None:
        if code not in self.by_code:
            return None
        parts: dict[str, DivisionRef] = {}
        for c in self._chains[code]:
            ref = self.by_code[c]
            parts[ref.level] = ref
        province = parts.get("province")
        if "prefecture" not in parts and province is not None:
            own = self._own_prefecture.get(province.code)
            if own is not None:
                parts["prefecture"] = self.by_code[own]
        return Resolution(province, parts.get("prefecture"), parts.get("district"))

    def resolve(self, text: str | None) -> Resolution | None:
        """The division chain an address or name designates, or None if absent or ambiguous."""
        if not text:
            return None
        t = _normalize(text)
        if t.isdigit():
            return self.resolution_for(t[:6]) if len(t) in (6, 9, 12) else None
        spans: dict[str, int] = {}  # code -> bitmask of the characters its names matched
        names, n = self._names, len(t)
        for i in range(n):
            for length in self._lengths:
                if i + length > n:
                    continue
                codes = names.get(t[i:i + length])
                if codes:
                    bits = ((1 << length) - 1) << i
                    for code in codes:
                        spans[code] = spans.get(code, 0) | bits
        if not spans:
            return None
        best_score, best_depth, winners = -1, 99, []
        for code in spans:
            chain = self._chains[code]
            mask = 0
            for c in chain:
                mask |= spans.get(c, 0)
            score, depth = mask.bit_count(), len(chain)
            if score > best_score or (score == best_score and depth < best_depth):
                best_score, best_depth, winners = score, depth, [chain]
            elif score == best_score and depth == best_depth:
                winners.append(chain)
        if len(winners) == 1:
            return self.resolution_for(winners[0][-1])
        shared = None
        for codes in zip(*winners, strict=False):
            if len(set(codes)) > 1:
                break
            shared = codes[0]
        return self.resolution_for(shared) if shared else None


# --- database-backed helpers -------------------------------------------------------------

_index: DivisionIndex | None = None


def reset_cache() -> None:
    global _index
    _index = None


def index() -> DivisionIndex:
    """The index over the `divisions` table, built once and cached until `reset_cache()`."""
    global _index
    if _index is None:
        _index = DivisionIndex(db.session.scalars(select(Division)))
    return _index


def resolve(text: str | None) -> Resolution | None:
    return index().resolve(text)


def get(code: str) -> Division | None:
    if not code:
        return None
    return db.session.get(Division, code)


def list_divisions(level: str | None = None, province: str | None = None,
                   parent: str | None = None, q: str | None = None) -> list[Division]:
    stmt = select(Division).order_by(Division.code)
    if level:
        stmt = stmt.where(Division.level == level)
    if province:
        stmt = stmt.where(Division.province_code == province)
    if parent:
        stmt = stmt.where(Division.parent_code == parent)
    if q:
        q = q.strip()
        stmt = stmt.where(or_(Division.name.contains(q, autoescape=True),
                              Division.short_name.contains(q, autoescape=True),
                              Division.code.startswith(q, autoescape=True)))
    return list(db.session.scalars(stmt))


def regions() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.position)))


def province_codes_for_region(region_code: str) -> list[str]:
    region = db.session.get(Region, region_code)
    return list(region.province_codes) if region else []


def region_of_province(province_code: str) -> Region | None:
    for region in regions():
        if province_code in region.province_codes:
            return region
    return None
