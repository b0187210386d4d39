"""The hand-built filing scenario the golden tests read, built through the services.

Maker A relies on: two outlets of its own contracting (co-built, Guangzhou storage and Shenzhen
collection, the latter with a valid certificate), a co-built outlet in Dongguan it shares with
maker B, an authorized outlet in Foshan, an outlet in Huizhou whose agreement expired on
2026-06-01, and an outlet in Zhongshan whose certificate is suspended. A sells in those cities
and in Zhuhai, where nothing covers it. The filing is generated as of AS_OF.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from tests.integration.conftest import PASSWORD

AS_OF = date(2026, 12, 15)
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
GENERATE_AT = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)
EARLY = datetime(2025, 5, 1, 2, 0, tzinfo=UTC)


@dataclass
class Scenario:
    maker_a: object
    maker_b: object
    provider: object
    operator: object
    outlets: dict  # key -> outlet id
    agreements: dict  # key -> agreement id


def actor_for(party):
    from app.extensions import db
    from app.models import User
    from services.audit import Actor

    return Actor(user=db.session.get(User, party.user_id), ip="203.0.113.7")


def make_outlet(provider, name, city, district, type_="collection", *, area=20, weight=5):
    from app.extensions import db
    from app.models import CapacityOffer, Outlet

    outlet = Outlet(
        provider_id=provider.organization_id, name=name, address=f"{name}路8号", province_code="440000",
        city_code=city, district_code=district, lat=23.0, lon=113.3, type=type_,
        storage_area_m2=area, max_stored_weight_t=weight, annual_capacity_t=300,
        chemistries=["LFP"], safety_classes=["A"], contact_name="王经理", contact_phone="13800138000",
        establishment="self_built", status="listed", compliant=True, certified=False,
        available_capacity_t=100, annual_fee_fen=1_000_000, handling_fee_fen_per_t=20_000,
        listed_at=datetime(2025, 1, 1, tzinfo=UTC), search_text=name)
    db.session.add(outlet)
    db.session.flush()
    db.session.add(CapacityOffer(outlet_id=outlet.id, capacity_t_per_year=100,
                                 annual_fee_fen=1_000_000, handling_fee_fen_per_t=20_000,
                                 min_term_months=12, available_from=date(2025, 1, 1)))
    db.session.commit()
    return outlet.id


def contract(maker, provider, outlet_id, form="co_built", *, now=NOW, start="2026-12-01",
             term=12, tonnes=30):
    """Request -> accept -> every party signs; returns the agreement id."""
    from app.extensions import db
    from app.models import Agreement, Organization
    from services import agreements, capacity_requests

    request = capacity_requests.create(
        actor_for(maker), db.session.get(Organization, maker.organization_id),
        {"outlet_id": outlet_id, "tonnes_per_year": tonnes, "start_date": start,
         "term_months": term, "form": form}, now=now)
    db.session.commit()
    capacity_requests.accept(actor_for(provider), request.id, now=now)
    db.session.commit()
    agreement = db.session.execute(db.select(Agreement).where(
        Agreement.outlet_id == outlet_id, Agreement.status.in_(agreements.OPEN))).scalar_one()
    sign_pending(agreement.id, maker, provider, now=now)
    return agreement.id


def sign_pending(agreement_id, *parties, now=NOW):
    from app.extensions import db
    from app.models import Agreement
    from services import agreements

    for party in parties:
        version = agreements.pending_version(db.session.get(Agreement, agreement_id))
        if version is None or any(s.organization_id == party.organization_id for s in version.signatures):
            continue
        agreements.sign(actor_for(party), agreement_id, password=PASSWORD,
                        document_sha256=version.document_sha256, now=now)
        db.session.commit()


def certificate(outlet_id, certifier_id, number, status="valid"):
    from app.extensions import db
    from app.models import Certificate, CertificationScheme

    scheme = db.session.execute(db.select(CertificationScheme)).scalars().first()
    if scheme is None:
        scheme = CertificationScheme(code="OP-OUTLET", version="1", name_zh="网点认证", name_en="Outlet",
                                     issuing_body="OutletPool", outlet_types=["collection"],
                                     checklist_items=[1])
        db.session.add(scheme)
        db.session.flush()
    db.session.add(Certificate(number=number, verification_code=f"code-{number}", outlet_id=outlet_id,
                               scheme_id=scheme.id, certifier_id=certifier_id, application_id=0,
                               scope="collection", issued_on=date(2026, 1, 10),
                               expires_on=date(2029, 1, 9), status=status))
    db.session.commit()


def sales(maker, cities):
    from app.extensions import db
    from app.models import SalesRecord
    from app.models.types import utcnow

    for city in cities:
        db.session.add(SalesRecord(manufacturer_id=maker.organization_id, division_code=city,
                                   year=2025, sales=200, parc=None, updated_at=utcnow()))
    db.session.commit()


def build(make_party) -> Scenario:
    from app.extensions import db
    from app.models import Outlet
    from services import tick

    maker_a = make_party("manufacturer", legal_name="金标新能源汽车有限公司")
    maker_b = make_party("manufacturer", legal_name="银河汽车股份有限公司")
    provider = make_party("provider", legal_name="绿源电池综合利用有限公司")
    certifier = make_party("certifier", legal_name="中诚认证中心有限公司")
    operator = make_party("operator", email="filings-operator@example.com")
    outlets = {
        "gz": make_outlet(provider, "广州天河贮存中心", "440100", "440106", "centralized_storage",
                          area=200, weight=40),
        "sz": make_outlet(provider, "深圳南山回收点", "440300", "440305"),
        "dg": make_outlet(provider, "东莞长安共建网点", "441900", None),
        "fs": make_outlet(provider, "佛山顺德授权网点", "440600", "440606"),
        "hz": make_outlet(provider, "惠州惠城回收点", "441300", "441302"),
        "zs": make_outlet(provider, "中山火炬回收点", "442000", None),
    }
    agreements = {}
    agreements["hz"] = contract(maker_a, provider, outlets["hz"], now=EARLY, start="2025-06-01")
    tick.run(datetime(2026, 6, 2, 2, 0, tzinfo=UTC))  # the Huizhou allocation expires
    db.session.commit()
    for key in ("gz", "sz", "zs"):
        agreements[key] = contract(maker_a, provider, outlets[key])
    agreements["fs"] = contract(maker_a, provider, outlets["fs"], "authorized")
    agreements["dg"] = contract(maker_a, provider, outlets["dg"])
    contract(maker_b, provider, outlets["dg"], tonnes=40)
    sign_pending(agreements["dg"], maker_a, maker_b, provider)
    certificate(outlets["sz"], certifier.organization_id, "OPC-2026-000001")
    certificate(outlets["zs"], certifier.organization_id, "OPC-2026-000002", status="suspended")
    db.session.get(Outlet, outlets["zs"]).certified = False
    db.session.commit()
    sales(maker_a, ["440100", "440300", "441900", "440600", "441300", "442000", "440400"])
    return Scenario(maker_a, maker_b, provider, operator, outlets, agreements)
