"""Demo sales (services.demo_sales): deterministic, idempotent, and the demo maker has work."""

from datetime import date

from sqlalchemy import func, select

from app.extensions import db
from app.models import Organization, OrgKind, Outlet, ProviderType, SalesRecord
from services import credit_code, demo_pool, demo_sales, obligations
from services.coverage_planner import PlanOptions
from services.coverage_plans import build_instance

AS_OF = date(2026, 6, 30)


def _seed(app, seed=5, outlets=500):
    with app.app_context():
        demo_pool.seed(seed, outlets)
        report = demo_sales.seed_sales(seed)
        db.session.commit()
        return report


def _figures(app) -> list[tuple]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            select(Organization.legal_name, SalesRecord.division_code, SalesRecord.year,
                   SalesRecord.sales)
            .join(Organization, Organization.id == SalesRecord.manufacturer_id)
            .order_by(Organization.legal_name, SalesRecord.division_code, SalesRecord.year))]


def test_demo_sales_are_idempotent(app):
    report = _seed(app)
    assert not report.skipped and report.manufacturers == demo_pool.MANUFACTURERS
    assert report.records > 0 and report.demo_maker_records == 12 * len(demo_sales.YEARS)
    before = _figures(app)
    with app.app_context():
        again = demo_sales.seed_sales(5)
        db.session.commit()
        makers = db.session.execute(select(func.count(Organization.id)).where(
            Organization.kind == OrgKind.MANUFACTURER)).scalar_one()
    assert again.skipped
    assert _figures(app) == before
    assert makers == demo_pool.MANUFACTURERS + 1  # plus the demo maker login's organization


def test_demo_sales_follow_the_brands_outlets(app):
    _seed(app)
    with app.app_context():
        makers = db.session.execute(select(Organization).where(
            Organization.credit_code.like(f"91______{demo_sales.MARKER}%"))).unique().scalars().all()
        assert all(credit_code.check(m.credit_code).ok and m.is_verified for m in makers)
        brand = db.session.execute(select(Organization).where(
            Organization.provider_type == ProviderType.MANUFACTURER,
            Organization.legal_name == makers[0].legal_name)).unique().scalar_one()
        outlet_cities = set(db.session.execute(
            select(Outlet.city_code).where(Outlet.provider_id == brand.id)).scalars())
        sales_cities = set(db.session.execute(select(SalesRecord.division_code).where(
            SalesRecord.manufacturer_id == makers[0].id)).scalars())
    assert sales_cities == outlet_cities


def test_demo_sales_are_deterministic(app):
    _seed(app)
    first = _figures(app)
    with app.app_context():  # start again from reference data only
        db.session.execute(SalesRecord.__table__.delete())
        db.session.execute(Organization.__table__.delete().where(
            Organization.credit_code.like(f"91______{demo_sales.MARKER}%")))
        db.session.commit()
        demo_sales.seed_sales(5)
        db.session.commit()
    assert _figures(app) == first


def test_the_demo_maker_gets_obligations_and_a_plan(app):
    _seed(app)
    with app.app_context():
        maker = db.session.execute(select(Organization).where(
            Organization.legal_name == demo_sales.DEMO_MAKER_NAME)).unique().scalar_one()
        report = obligations.compute_for(maker, AS_OF)
        assert len(report.cities) == 12
        assert all("collection" in c.required for c in report.cities)
        storage = sum("centralized_storage" in c.required for c in report.cities)
        assert 0 < storage < 12  # both sides of the parc threshold
        instance = build_instance(maker, AS_OF, PlanOptions())
        assert instance.demands and instance.candidates
