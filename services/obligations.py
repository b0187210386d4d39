"""A manufacturer's outlet obligations under the rule set in force, city by city.

Pure parts (no database): `evaluate` applies a rule set's `parameters.obligations` to one
city's figures; `estimate_parc` and `expected_tonnes` apply the parc and retirement models
(services/data/parc_model.json, retirement_model.json: platform conventions an operator
corrects). `compute_for(manufacturer, as_of)` gathers the maker's sales records, picks the
rule set in force on `as_of` and builds the report the obligations page, the API and the
coverage planner read.

Which rules apply: entries of `parameters.obligations` scoped to prefecture-level regions and
owed by manufacturers (no `obligated_party`, or `manufacturer`). The 2026 Measures' province-
scoped centralized storage owed by battery makers is not evaluated here.
"""

from __future__ import annotations

import json
import operator
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.models import Organization, SalesRecord
from services import data_versions, divisions, rule_sets

DATA_DIR = Path(__file__).resolve().parent / "data"
STATUSES = ("covered", "collection_only", "uncovered")
COMPARISONS = {">=": operator.ge, ">": operator.gt, "==": operator.eq, "<=": operator.le,
               "<": operator.lt}
BASES = ("sales", "cumulative_sales", "parc")
# Types in the order a city needs them: collection first, storage on top.
TYPE_ORDER = ("collection", "centralized_storage")


# --- models as data -----------------------------------------------------------------------

@cache
def parc_model() -> dict:
    return json.loads((DATA_DIR / "parc_model.json").read_text(encoding="utf-8"))


@cache
def retirement_model() -> dict:
    return json.loads((DATA_DIR / "retirement_model.json").read_text(encoding="utf-8"))


def survival(age: int, model: dict | None = None) -> float:
    """Share of one sales cohort still in use `age` years after its sales year."""
    model = model or parc_model()
    shares = model["annual_scrappage_share_by_age"]
    older = float(model.get("share_for_older_ages", 0.0))
    alive = 1.0
    for a in range(1, age + 1):
        alive *= 1.0 - float(shares.get(str(a), older))
    return alive


def estimate_parc(sales_by_year: dict[int, int], year: int, model: dict | None = None) -> int:
    """Vehicles in use at the end of `year`: cumulative sales less scrappage, rounded."""
    total = sum(sales * survival(year - c, model) for c, sales in sales_by_year.items() if c <= year)
    return round(total)


def expected_tonnes(sales_by_year: dict[int, int], year: int, model: dict | None = None) -> float:
    """Retired-battery tonnage expected in `year` from the cohorts sold up to it."""
    model = model or retirement_model()
    shares = model["retirement_share_by_age"]
    mass = float(model["average_pack_mass_t"])
    total = sum(sales * float(shares.get(str(year - c), 0.0)) * mass
                for c, sales in sales_by_year.items() if c <= year)
    return round(total, 3)


# --- rule evaluation (pure) ------------------------------------------------------------------

@dataclass(frozen=True)
class Obligation:
    outlet_type: str
    rule_ref: str
    source: str
    basis: str
    comparison: str
    threshold: float
    value: float  # the figure the rule was evaluated on

    def as_dict(self) -> dict:
        return {"outlet_type": self.outlet_type, "rule_ref": self.rule_ref, "source": self.source,
                "basis": self.basis, "comparison": self.comparison, "threshold": self.threshold,
                "value": self.value}


def applicable_rules(rule_parameters: dict) -> list[dict]:
    """The manufacturer-owed, prefecture-scoped obligation rules of a rule set's parameters."""
    rules = (rule_parameters.get("obligations") or {}).values()
    return [r for r in rules if r.get("scope", "prefecture") == "prefecture"
            and r.get("obligated_party", "manufacturer") == "manufacturer"
            and r.get("outlet_type")]


def evaluate(rule_parameters: dict, city_figures: dict) -> list[Obligation]:
    """The obligations one city's figures trigger under a rule set's parameters.

    `city_figures` holds `sales` (latest year's), `cumulative_sales` and `parc`. Each rule
    names its basis (default parc for storage, sales for collection), comparison and threshold.
    """
    found: dict[str, Obligation] = {}
    for rule in applicable_rules(rule_parameters):
        default_basis = "sales" if rule["outlet_type"] == "collection" else "parc"
        basis = rule.get("basis", default_basis)
        if basis not in BASES:
            raise ValueError(f"unknown obligation basis {basis!r} in rule {rule.get('rule_ref')}")
        comparison = rule.get("comparison", ">=")
        compare = COMPARISONS.get(comparison)
        if compare is None:
            raise ValueError(f"unknown comparison {comparison!r} in rule {rule.get('rule_ref')}")
        value = city_figures.get(basis) or 0
        threshold = rule.get("threshold", 1)
        if compare(value, threshold) and rule["outlet_type"] not in found:
            found[rule["outlet_type"]] = Obligation(
                rule["outlet_type"], rule.get("rule_ref", ""), rule.get("source", ""), basis,
                comparison, threshold, value)
    return sorted(found.values(), key=lambda o: (TYPE_ORDER.index(o.outlet_type)
                                                 if o.outlet_type in TYPE_ORDER else 99))


def status_for(required: list[str], met_types: set[str]) -> str:
    """covered: every required type met; collection_only: collection met, storage missing."""
    if all(t in met_types for t in required):
        return "covered"
    if "collection" in met_types and "collection" in required:
        return "collection_only"
    return "uncovered"


# --- the report ------------------------------------------------------------------------------

@dataclass
class CityObligations:
    division: str
    name: str
    province: str | None
    lat: float | None
    lon: float | None
    year: int  # the latest year with figures, up to the as_of year
    sales: int
    cumulative_sales: int
    parc: int
    parc_estimated: bool
    expected_tonnes: float
    obligations: list[Obligation]
    met_by: list[dict] = field(default_factory=list)
    status: str = "uncovered"

    @property
    def required(self) -> list[str]:
        return [o.outlet_type for o in self.obligations]

    @property
    def missing(self) -> list[str]:
        """The outlet types required here that nothing meets yet, in the rules' order."""
        met = {m.get("type") for m in self.met_by}
        return [t for t in self.required if t not in met]

    @property
    def citations(self) -> list[dict]:
        return [o.as_dict() for o in self.obligations]

    def as_dict(self) -> dict:
        return {"division": self.division, "name": self.name, "province": self.province,
                "lat": self.lat, "lon": self.lon, "year": self.year, "required": self.required,
                "status": self.status, "sales": self.sales,
                "cumulative_sales": self.cumulative_sales, "parc": self.parc,
                "parc_estimated": self.parc_estimated, "expected_tonnes": self.expected_tonnes,
                "met_by": self.met_by, "citations": self.citations}


@dataclass
class ObligationReport:
    manufacturer_id: int
    rule_set_code: str
    rule_set_version: str
    as_of: date
    cities: list[CityObligations]
    # what a reader knows the rules by: the regulation's name, not the platform's code
    rule_set_title_zh: str = ""
    rule_set_title_en: str = ""

    @property
    def rule_set(self) -> dict:
        return {"code": self.rule_set_code, "version": self.rule_set_version}

    @property
    def counts(self) -> dict:
        counts = {s: 0 for s in STATUSES}
        for city in self.cities:
            counts[city.status] += 1
        counts["cities"] = len(self.cities)
        counts["collection_required"] = sum("collection" in c.required for c in self.cities)
        counts["centralized_storage_required"] = sum(
            "centralized_storage" in c.required for c in self.cities)
        return counts

    @property
    def share_covered(self) -> float | None:
        obliged = [c for c in self.cities if c.required]
        if not obliged:
            return None
        return round(sum(c.status == "covered" for c in obliged) / len(obliged), 4)

    @property
    def expected_tonnes(self) -> float:
        return round(sum(c.expected_tonnes for c in self.cities), 3)

    def as_dict(self) -> dict:
        return {"manufacturer_id": self.manufacturer_id, "rule_set": self.rule_set,
                "as_of": self.as_of.isoformat(), "counts": self.counts,
                "share_covered": self.share_covered, "expected_tonnes": self.expected_tonnes,
                "cities": [c.as_dict() for c in self.cities]}


def build_city(division: divisions.DivisionRef | None, code: str, rows: list[tuple[int, int, int | None]],
               as_of_year: int, rule_parameters: dict) -> CityObligations | None:
    """One city's figures and obligations from its (year, sales, parc) rows; pure."""
    rows = sorted(r for r in rows if r[0] <= as_of_year)
    if not rows or not any(sales > 0 for _, sales, _ in rows):
        return None
    sales_by_year = {year: sales for year, sales, _ in rows}
    year, sales, given_parc = rows[-1]
    parc = given_parc if given_parc is not None else estimate_parc(sales_by_year, year)
    figures = {"sales": sales, "cumulative_sales": sum(sales_by_year.values()), "parc": parc}
    return CityObligations(
        division=code, name=division.name if division else code,
        province=division.province_code if division else None,
        lat=division.lat if division else None, lon=division.lon if division else None,
        year=year, sales=sales, cumulative_sales=figures["cumulative_sales"], parc=parc,
        parc_estimated=given_parc is None,
        expected_tonnes=expected_tonnes(sales_by_year, as_of_year),
        obligations=evaluate(rule_parameters, figures))


def _met_by(manufacturer: Organization, as_of: date) -> dict[str, list[dict]]:
    """What meets the maker's obligations on `as_of`, by city: capacity it holds under an
    agreement in force on that day (services.agreements.counts_on). Manufacturers do not
    own outlets in this model; even a maker's "own" outlet is run by a provider
    organization and shared through an agreement, so contracts are the one source."""
    from services import agreements  # a sibling capability, imported when needed

    met: dict[str, list[dict]] = defaultdict(list)
    for allocation in agreements.of_manufacturer_on(manufacturer.id, as_of):
        outlet = allocation.agreement.outlet
        met[outlet.city_code].append({
            "outlet_id": outlet.id, "name": outlet.name, "type": outlet.type.value,
            "provider_id": outlet.provider_id, "agreement": allocation.agreement.number,
            "allocation_id": allocation.id, "tonnes_per_year": allocation.tonnes_per_year,
            "until": allocation.ends_on.isoformat()})
    return met


def compute_for(manufacturer: Organization, as_of: date) -> ObligationReport:
    """The maker's obligations under the rule set in force on `as_of`, city by city.

    Cities are the prefecture-level divisions with sales recorded up to `as_of`'s year.
    The caller has checked that the reader may see this manufacturer's figures. Kept per
    process until sales, contracts, outlets or rules change (services.data_versions): makers
    look at this report far more often than its inputs change. The report is shared with
    every request of the process: read it, never change it (a copy cost more than a hit).
    """
    return data_versions.cached(
        "obligations", (manufacturer.id, as_of), lambda: _compute_for(manufacturer, as_of))


def _compute_for(manufacturer: Organization, as_of: date) -> ObligationReport:
    rule_set = rule_sets.in_force(as_of)
    parameters = rule_set.parameters or {}
    by_city: dict[str, list[tuple[int, int, int | None]]] = defaultdict(list)
    for code, year, sales, parc in db.session.execute(
            select(SalesRecord.division_code, SalesRecord.year, SalesRecord.sales, SalesRecord.parc)
            .where(SalesRecord.manufacturer_id == manufacturer.id,
                   SalesRecord.year <= as_of.year)):
        by_city[code].append((year, sales, parc))
    index = divisions.index()
    met_by = _met_by(manufacturer, as_of)
    cities = []
    for code in sorted(by_city):
        city = build_city(index.get(code), code, by_city[code], as_of.year, parameters)
        if city is None:
            continue
        city.met_by = met_by.get(code, [])
        city.status = status_for(city.required, {m.get("type") for m in city.met_by})
        cities.append(city)
    return ObligationReport(manufacturer.id, rule_set.code, rule_set.version, as_of, cities,
                            rule_set.title_zh, rule_set.title_en)


# --- export ------------------------------------------------------------------------------------

EXPORT_COLUMNS = ("division", "name", "year", "sales", "cumulative_sales", "parc",
                  "parc_estimated", "expected_tonnes", "required", "status", "met_by", "rule_refs")


def export_rows(report: ObligationReport) -> list[list]:
    rows = []
    for c in report.cities:
        rows.append([c.division, c.name, c.year, c.sales, c.cumulative_sales, c.parc,
                     "yes" if c.parc_estimated else "no", c.expected_tonnes, ";".join(c.required),
                     c.status, ";".join(str(m.get("outlet_id", "")) for m in c.met_by),
                     ";".join(o.rule_ref for o in c.obligations)])
    return rows
