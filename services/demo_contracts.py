"""Demo contracts, so a fresh `make run` shows contracting alive.

Between the demo manufacturer (maker@outletpool.demo) and the demo provider
(provider@outletpool.demo), at the provider's listed outlets with a capacity offer:

1. an active agreement, signed by both, at a collection outlet in a city where the maker
   sells, so its obligations page counts the city as covered (preferring a city whose
   obligations that outlet meets; otherwise the maker gets a small market's sales in the
   outlet's city, collection only, entered through services.sales);
2. an agreement awaiting the maker's signature: the provider countered the request, the
   maker accepted the counter, the provider signed;
3. an open request waiting for the provider.

Everything goes through the services (permissions, audit log and notifications are real),
with `now` fixed relative to today's date in China, so the same pool gives the same contracts
on any day and nothing is overdue when the seed is fresh. At least one listed outlet with an
offer is left where the demo maker has nothing, so a visitor (and the browser journey) can
request capacity there; a small pool gets fewer contracts, in the order above.

Idempotent: when the demo maker already has a request to the demo provider, nothing is done.
Flushes; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import CapacityOffer, CapacityRequest, Outlet, OutletStatus, OutletType
from app.models.types import utcnow
from services import accounts, agreements, capacity_requests, obligations, sales
from services.audit import Actor
from services.certifiers import CHINA, china_today
from services.demo import DEMO_PASSWORD
from services.demo_sales import GROWTH, YEARS

MAKER_EMAIL = "maker@outletpool.demo"
PROVIDER_EMAIL = "provider@outletpool.demo"
# A small market's yearly sales scaled by national NEV growth: under the 8,000 parc
# threshold, so only a collection outlet is required there.
SMALL_MARKET_SALES = 600
MAX_DEMO_TONNES = 120.0


@dataclass
class ContractsSeedReport:
    skipped: bool
    active: str | None = None  # agreement number
    awaiting_signature: str | None = None
    open_request: int | None = None
    sales_added_for: str | None = None  # city code whose sales were added for the maker
    free_outlets: list[int] = field(default_factory=list)


def at(today: date, days: int, hour: int = 10) -> datetime:
    """`days` from `today`, at `hour` o'clock in China."""
    return datetime.combine(today + timedelta(days=days), time(hour), CHINA)


def _tonnes(offer: CapacityOffer, share: float) -> float:
    return max(1.0, min(MAX_DEMO_TONNES, round(offer.capacity_t_per_year * share, 1)))


def _org_of(user):
    return user.memberships[0].organization


def _sign(actor: Actor, agreement_id: int, now: datetime) -> None:
    version = agreements.pending_version(agreements.get_visible(actor, agreement_id))
    agreements.sign(actor, agreement_id, password=DEMO_PASSWORD,
                    document_sha256=version.document_sha256, now=now)


def choose_active(outlets: list[Outlet], required: dict[str, set[str]]) -> Outlet:
    """The outlet for the active agreement: one that meets every obligation of a city where
    the maker sells; else a collection outlet in a city where it does not sell yet (its sales
    are added); else the first. Certified outlets first, then by id."""
    ranked = sorted(outlets, key=lambda o: (not o.certified, o.id))
    for outlet in ranked:
        needed = required.get(outlet.city_code)
        if needed and needed <= {outlet.type.value}:
            return outlet
    for outlet in ranked:
        if outlet.type is OutletType.COLLECTION and outlet.city_code not in required:
            return outlet
    return ranked[0]


def seed_contracts(today: date | None = None) -> ContractsSeedReport:
    maker_user = accounts.find_user_by_email(MAKER_EMAIL)
    provider_user = accounts.find_user_by_email(PROVIDER_EMAIL)
    if maker_user is None or provider_user is None:
        return ContractsSeedReport(skipped=True)
    maker, provider = _org_of(maker_user), _org_of(provider_user)
    if db.session.execute(select(CapacityRequest.id).where(
            CapacityRequest.manufacturer_id == maker.id,
            CapacityRequest.provider_id == provider.id)).first():
        return ContractsSeedReport(skipped=True)
    outlets = list(db.session.execute(
        select(Outlet).join(CapacityOffer, CapacityOffer.outlet_id == Outlet.id)
        .where(Outlet.provider_id == provider.id, Outlet.status == OutletStatus.LISTED)
        .order_by(Outlet.id)).unique().scalars())
    if len(outlets) < 2:  # one must stay free for a visitor's own request
        return ContractsSeedReport(skipped=True)
    today = today or china_today(utcnow())
    as_maker, as_provider = Actor(user=maker_user, label="demo"), Actor(user=provider_user,
                                                                         label="demo")
    report = ContractsSeedReport(skipped=False)

    required = {c.division: set(c.required) for c in obligations.compute_for(maker, today).cities}
    active = choose_active(outlets, required)
    if active.city_code not in required:
        for year in YEARS:
            sales.record_one(as_maker, maker, {"division": active.city_code, "year": year,
                                               "sales": round(SMALL_MARKET_SALES * GROWTH[year])})
        report.sales_added_for = active.city_code
    request = capacity_requests.create(as_maker, maker, {
        "outlet_id": active.id, "tonnes_per_year": _tonnes(active.offer, 0.3),
        "start_date": today - timedelta(days=35), "term_months": active.offer.min_term_months,
        "form": "co_built", "message": "演示：在本市共建回收服务网点，按年结算。"},
        now=at(today, -40))
    capacity_requests.accept(as_provider, request.id, now=at(today, -38))
    agreement = capacity_requests.allocation_of(request).agreement
    _sign(as_maker, agreement.id, at(today, -37))
    _sign(as_provider, agreement.id, at(today, -37, 15))
    report.active = agreement.number

    # Then outlets in the maker's cities first; the last one always stays free.
    rest = sorted((o for o in outlets if o.id != active.id),
                  key=lambda o: (o.city_code not in required, not o.certified, o.id))
    used = rest[:min(2, len(rest) - 1)]
    if used:
        outlet = used[0]
        tonnes = _tonnes(outlet.offer, 0.2)
        request = capacity_requests.create(as_maker, maker, {
            "outlet_id": outlet.id, "tonnes_per_year": tonnes,
            "start_date": today + timedelta(days=14), "term_months": outlet.offer.min_term_months,
            "form": "authorized", "message": "演示：希望授权使用本网点的贮存能力。"},
            now=at(today, -4))
        capacity_requests.counter(as_provider, request.id, {
            "tonnes_per_year": max(1.0, round(tonnes * 0.8, 1)),
            "annual_fee_fen": outlet.offer.annual_fee_fen * 9 // 10,
            "start_date": today + timedelta(days=21),
            "message": "演示：本季度可提供的能力略少，晚一周开始，年费给予九折。"}, now=at(today, -3))
        capacity_requests.accept_counter(as_maker, request.id, now=at(today, -2))
        agreement = capacity_requests.allocation_of(request).agreement
        _sign(as_provider, agreement.id, at(today, -1))
        report.awaiting_signature = agreement.number
    if len(used) > 1:
        outlet = used[1]
        report.open_request = capacity_requests.create(as_maker, maker, {
            "outlet_id": outlet.id, "tonnes_per_year": _tonnes(outlet.offer, 0.25),
            "start_date": today + timedelta(days=30), "term_months": outlet.offer.min_term_months,
            "form": "shared_use", "message": "演示：申请共享使用本网点的回收能力。"},
            now=at(today, -1, 9)).id
    report.free_outlets = [o.id for o in rest[len(used):]]
    db.session.flush()
    return report
