"""`flask seed-demo`: the national demo pool, written in bulk, idempotent, true to the survey."""

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Assessment, CapacityOffer, Organization, Outlet, OutletStatus
from services import checklist, credit_code, demo_pool, divisions
from services.demo import DEMO_PASSWORD


def run(app, *args):
    result = app.test_cli_runner().invoke(args=["seed-demo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def counts(app) -> tuple[int, int, int, int]:
    with app.app_context():
        return tuple(db.session.execute(select(func.count()).select_from(m)).scalar_one()
                     for m in (Organization, Outlet, Assessment, CapacityOffer))


def test_seed_demo_is_idempotent(app):
    output = run(app, "--outlets", "200", "--seed", "3")
    assert "200 outlets" in output
    before = counts(app)
    assert before[1] == 200 and before[2] == 200
    assert "nothing to do" in run(app, "--outlets", "200", "--seed", "3")
    assert "nothing to do" in run(app)  # a different size does not add a second pool either
    assert counts(app) == before


def test_postgresql_has_planner_statistics_right_after_the_load(app):
    """The demo is tens of thousands of rows written at once; the planner must not wait for
    autovacuum (off on some servers) to learn how many there are."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("ANALYZE is PostgreSQL's")
    run(app, "--outlets", "120", "--seed", "5")
    with app.app_context():
        analyzed = set(db.session.scalars(text(
            "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = current_schema()")))
    assert {"outlets", "assessments", "capacity_offers", "sales_records"} <= analyzed


def test_the_written_pool_is_the_deterministic_plan(app):
    run(app, "--outlets", "120", "--seed", "11")
    with app.app_context():
        items = [{"number": i.number, "category": i.category} for i in checklist.items()]
        expected = demo_pool.plan(11, 120, divisions.index(), items)
        written = db.session.execute(
            select(Outlet.name, Outlet.address, Outlet.lat, Outlet.lon, Outlet.compliant)
            .order_by(Outlet.id)).all()
    assert [tuple(row) for row in written] == [
        (o.name, o.address, o.lat, o.lon, o.compliant) for o in expected.outlets]


def test_the_demo_provider_login_has_outlets_to_show(app, client):
    run(app, "--outlets", "200")
    with app.app_context():
        provider = db.session.execute(select(Organization).where(
            Organization.legal_name == demo_pool.DEMO_PROVIDER_NAME)).unique().scalar_one()
        statuses = db.session.execute(select(Outlet.status).where(
            Outlet.provider_id == provider.id)).scalars().all()
    assert OutletStatus.LISTED in statuses and OutletStatus.DRAFT in statuses
    token = client.post("/api/v1/auth/tokens", json={"email": "provider@outletpool.demo",
                                                     "password": DEMO_PASSWORD}).json["token"]
    mine = client.get(f"/api/v1/organizations/{provider.id}/outlets",
                      headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200 and mine.json["total"] == len(statuses)
    assert any(o["offer"] for o in mine.json["items"] if o["status"] == "listed")


def test_the_full_pool_matches_the_survey_in_the_statistics(app, client):
    with app.app_context():
        report = demo_pool.seed(demo_pool.DEFAULT_SEED, demo_pool.FULL_SIZE)
        db.session.commit()
    assert report.outlets == 10257 and not report.skipped
    stats = client.get("/api/v1/stats/national").json
    assert stats["total_outlets"] == 10257
    assert stats["provinces_covered"] == 31
    assert stats["prefecture_regions_covered"] == 326
    assert stats["by_province"][0]["province"] == "440000" and stats["by_province"][0]["count"] == 1062
    assert stats["top10_provinces"]["count"] == 6116
    assert stats["co_built"]["count"] == 2566
    assert stats["top20_providers"]["count"] == 8811
    assert stats["top20_providers"]["share"] == pytest.approx(0.859, abs=0.0005)
    assert stats["providers_by_type"]["manufacturer"]["providers"] >= 150
    assert stats["providers_by_type"]["utilization"]["providers"] >= 30
    assert stats["compliance_rate"] == pytest.approx(0.25, abs=0.001)
    assert stats["listed_outlets"] == stats["compliant_outlets"] == 2564
    shares = {c["category"]: c["fail_share_noncompliant"] for c in stats["compliance_by_category"]}
    assert shares == pytest.approx({"working_environment": 0.79, "facilities": 0.83,
                                    "systems_processes": 0.58}, abs=0.002)

    with app.app_context():
        # every outlet has one complete assessment agreeing with its flags
        mismatched = db.session.execute(
            select(func.count()).select_from(Outlet).join(Assessment, Assessment.outlet_id == Outlet.id)
            .where((Assessment.passed != Outlet.compliant) | Assessment.completed_at.is_(None)
                   | ((Outlet.status == OutletStatus.LISTED) != Outlet.compliant))).scalar_one()
        assert mismatched == 0
        assert db.session.execute(select(func.count(Assessment.id))).scalar_one() == 10257
        # the pool's search columns repeat the offer
        offers = db.session.execute(
            select(CapacityOffer.capacity_t_per_year, CapacityOffer.annual_fee_fen,
                   CapacityOffer.handling_fee_fen_per_t, Outlet.available_capacity_t,
                   Outlet.annual_fee_fen, Outlet.handling_fee_fen_per_t, Outlet.status)
            .join(Outlet, Outlet.id == CapacityOffer.outlet_id)).all()
        assert len(offers) > 500
        assert all(o[0] == o[3] and o[1] == o[4] and o[2] == o[5] and o[6] is OutletStatus.LISTED
                   for o in offers)
        assert db.session.execute(select(func.count()).select_from(Outlet).where(
            Outlet.annual_fee_fen.is_not(None))).scalar_one() == len(offers)
        # providers: verified, with valid, marked credit codes
        for code, status in db.session.execute(
                select(Organization.credit_code, Organization.verification_status)
                .where(Organization.credit_code.like("91______DP%"))):
            assert credit_code.check(code).ok and status.value == "verified"
