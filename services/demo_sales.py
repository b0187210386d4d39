"""Deterministic demo sales: the demo pool's car makers as manufacturer organizations, with
NEV sales 2021-2025 in the prefecture-level cities where their brand has dealer outlets.

The demo pool (services.demo_pool) holds its ~150 makers as *provider* organizations
(provider_type "manufacturer") owning dealer outlets. Obligations and coverage plans are
computed for organizations of kind *manufacturer*, so `seed_sales()` adds, for each of those
brands, a verified manufacturer organization with the same names and head-office city, and
writes its sales:

- cities: the prefecture-level cities where the brand has outlets in the pool;
- 2025 sales in a city: outlets there x the maker's sales per outlet (log-normal, median
  DEFAULT_SALES_PER_OUTLET) x a city factor (0.6-1.5); earlier years follow the national
  NEV growth curve (GROWTH) with a little noise. Parc is left empty (estimated from sales),
  so cities with a few outlets stay under the 8,000 parc threshold and those with several
  go over it.

The demo manufacturer login's organization (maker@outletpool.demo) gets figures for a dozen
cities where the pool offers priced capacity, so its obligations page and a coverage plan
show something at once.

Idempotent: credit codes of the generated makers carry the marker MARKER at characters 9-10
(the pool's own codes carry "DP"); if any exists the makers are not generated again, and the
demo maker's figures are written only when it has none. Deterministic given the seed and the
pool. Bulk inserts; flushes, never commits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import (
    Organization,
    OrgKind,
    Outlet,
    OutletStatus,
    ProviderType,
    SalesRecord,
    VerificationStatus,
)
from services import audit, credit_code
from services.audit import Actor
from services.demo_pool import DEFAULT_SEED
from services.demo_pool import MARKER as POOL_MARKER

MARKER = "DM"  # characters 9-10 of every generated manufacturer's credit code
YEARS = (2021, 2022, 2023, 2024, 2025)
# NEV sales relative to 2025 (China: about 3.5 M in 2021 to about 13 M in 2025, rounded).
GROWTH = {2021: 0.27, 2022: 0.52, 2023: 0.72, 2024: 0.88, 2025: 1.0}
DEFAULT_SALES_PER_OUTLET = 650  # median 2025 NEV sales per dealer outlet in a city
DEMO_MAKER_CITIES = 12
DEMO_MAKER_NAME = "华南新能源汽车有限公司"  # the maker@outletpool.demo login's organization


@dataclass
class SalesSeedReport:
    skipped: bool
    manufacturers: int = 0
    records: int = 0
    cities: int = 0
    demo_maker_records: int = 0


def demo_manufacturers() -> int:
    """How many generated demo manufacturers exist (the idempotency marker)."""
    return db.session.execute(
        select(func.count(Organization.id))
        .where(Organization.credit_code.like(f"91______{MARKER}%"))).scalar_one()


def sales_rows(rng: random.Random, outlets_by_city: dict[str, int], *,
               per_outlet: float) -> list[dict]:
    """{"division_code", "year", "sales"} for each city and year; pure given the rng."""
    rows = []
    for city in sorted(outlets_by_city):
        base = outlets_by_city[city] * per_outlet * rng.uniform(0.6, 1.5)
        for year in YEARS:
            sales = max(1, round(base * GROWTH[year] * rng.uniform(0.9, 1.1)))
            rows.append({"division_code": city, "year": year, "sales": sales})
    return rows


def _pool_brands() -> list[Organization]:
    return list(db.session.execute(
        select(Organization).where(Organization.kind == OrgKind.PROVIDER,
                                   Organization.provider_type == ProviderType.MANUFACTURER,
                                   Organization.credit_code.like(f"91______{POOL_MARKER}%"))
        .order_by(Organization.id)).unique().scalars())


def _seed_makers(rng: random.Random, now: datetime) -> tuple[int, int, int]:
    brands = _pool_brands()
    if not brands:
        return 0, 0, 0
    outlets: dict[int, dict[str, int]] = {}
    for provider_id, city, count in db.session.execute(
            select(Outlet.provider_id, Outlet.city_code, func.count(Outlet.id))
            .where(Outlet.provider_id.in_([b.id for b in brands]))
            .group_by(Outlet.provider_id, Outlet.city_code)):
        outlets.setdefault(provider_id, {})[city] = count
    org_rows = []
    for brand in brands:
        code = brand.credit_code
        org_rows.append({
            "kind": OrgKind.MANUFACTURER, "provider_type": None,
            "legal_name": brand.legal_name, "english_name": brand.english_name,
            "credit_code": credit_code.make(f"{code[:8]}{MARKER}{code[10:17]}"),
            "address": brand.address, "division_code": brand.division_code,
            "contact_name": brand.contact_name, "contact_phone": brand.contact_phone,
            "contact_email": None, "verification_status": VerificationStatus.VERIFIED,
            "verification_reason": None, "verified_at": now, "created_at": now,
            "cobuilding_opt_in": True})
    ids = db.session.execute(
        insert(Organization).returning(Organization.id, sort_by_parameter_order=True), org_rows
    ).scalars().all()
    rows = []
    cities = set()
    for brand, maker_id in zip(brands, ids, strict=True):
        per_outlet = DEFAULT_SALES_PER_OUTLET * rng.lognormvariate(0.0, 0.35)
        by_city = outlets.get(brand.id, {})
        cities.update(by_city)
        rows.extend({"manufacturer_id": maker_id, "parc": None, "updated_at": now, **r}
                    for r in sales_rows(rng, by_city, per_outlet=per_outlet))
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(SalesRecord), rows[start:start + 5000])
    return len(ids), len(rows), len(cities)


def _demo_maker() -> Organization | None:
    return db.session.execute(
        select(Organization).where(Organization.legal_name == DEMO_MAKER_NAME,
                                   Organization.kind == OrgKind.MANUFACTURER)
    ).unique().scalars().first()


def _seed_demo_maker(rng: random.Random, now: datetime) -> int:
    """A dozen cities where the pool offers priced capacity, some over the parc threshold."""
    maker = _demo_maker()
    if maker is not None:
        maker.cobuilding_opt_in = True  # so the demo shows the co-building saving at once
    if maker is None or db.session.execute(
            select(func.count(SalesRecord.id)).where(SalesRecord.manufacturer_id == maker.id)
    ).scalar_one():
        return 0
    offered = db.session.execute(
        select(Outlet.city_code, func.count(Outlet.id))
        .where(Outlet.status == OutletStatus.LISTED, Outlet.annual_fee_fen.is_not(None),
               Outlet.available_capacity_t.is_not(None))
        .group_by(Outlet.city_code)).all()
    ranked = [code for code, _ in sorted(offered, key=lambda r: (-r[1], r[0]))]
    if not ranked:
        return 0
    pick = ranked[:2 * DEMO_MAKER_CITIES]
    cities = sorted(rng.sample(pick, min(DEMO_MAKER_CITIES, len(pick))))
    # Alternate big and small markets so both sides of the parc threshold show.
    by_city = {city: (6 if k % 2 == 0 else 1) for k, city in enumerate(cities)}
    rows = [{"manufacturer_id": maker.id, "parc": None, "updated_at": now, **r}
            for r in sales_rows(rng, by_city, per_outlet=DEFAULT_SALES_PER_OUTLET)]
    db.session.execute(insert(SalesRecord), rows)
    return len(rows)


def seed_sales(seed: int = DEFAULT_SEED, *, actor: Actor | None = None) -> SalesSeedReport:
    """Write the demo makers and their sales unless already there (see the module docstring).
    Run after the demo pool. Flushes; the caller commits."""
    rng = random.Random(seed)  # noqa: S311 - demo data, reproducible on purpose
    now = datetime.now(UTC)
    skipped = demo_manufacturers() > 0
    makers = records = cities = 0
    if not skipped:
        makers, records, cities = _seed_makers(rng, now)
    demo_rng = random.Random(seed + 1)  # noqa: S311 - independent of the makers' draws
    demo_records = _seed_demo_maker(demo_rng, now)
    db.session.flush()
    if not makers and not demo_records:
        return SalesSeedReport(skipped=True)
    report = SalesSeedReport(False, makers, records, cities, demo_records)
    audit.record(actor or Actor(label="cli:seed-demo"), "demo.sales_seeded", "organization", None,
                 data={"seed": seed, "manufacturers": makers, "records": records,
                       "demo_maker_records": demo_records})
    return report
