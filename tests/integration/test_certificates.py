"""Certificates end to end: issue, verify in public, lapse by tick or by the certifier, the
pool's mark, the PDF and the pages. Certificates are issued through services.certificates
from a hand-made application, independent of the audit workflow that normally leads there."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from app.extensions import db
from app.models import (
    ApplicationPurpose,
    ApplicationStatus,
    AuditEvent,
    Certificate,
    CertificateStatus,
    CertificationApplication,
    CertificationScheme,
    Notification,
    Outlet,
    User,
)
from services import certificates, tick
from services.audit import Actor
from tests.integration.conftest import form_post, login

EN = {"Accept-Language": "en"}
ISSUED_ON = date(2026, 1, 15)


@dataclass
class World:
    provider: object
    certifier: object
    outlet_id: int
    scheme_id: int


def make_scheme(*, validity_months=36, surveillance_interval_months=12, code="OPC-RSO") -> int:
    scheme = CertificationScheme(
        code=code, version="2026.1", name_zh="新能源汽车动力蓄电池回收服务网点认证规则",
        name_en="Certification scheme for NEV traction-battery recycling service outlets",
        issuing_body="OutletPool", outlet_types=["collection", "centralized_storage"],
        checklist_items=list(range(1, 25)), validity_months=validity_months,
        surveillance_interval_months=surveillance_interval_months)
    db.session.add(scheme)
    db.session.flush()
    return scheme.id


def make_outlet(provider_id: int, name: str = "南山回收服务网点", **overrides) -> int:
    values = dict(
        provider_id=provider_id, name=name, address="广东省深圳市南山区科技园南区10号",
        province_code="440000", city_code="440300", district_code="440305", lat=22.54, lon=113.95,
        type="collection", storage_area_m2=20, max_stored_weight_t=4, annual_capacity_t=300,
        chemistries=["LFP"], safety_classes=["A"], establishment="self_built", status="listed",
        compliant=True, listed_at=datetime(2026, 1, 1, tzinfo=UTC),
        search_text=f"{name} 广东省深圳市南山区科技园南区10号".lower())
    values.update(overrides)
    outlet = Outlet(**values)
    db.session.add(outlet)
    db.session.flush()
    return outlet.id


@pytest.fixture
def world(app, make_party) -> World:
    provider = make_party("provider", legal_name="绿源电池综合利用有限公司")
    certifier = make_party("certifier", legal_name="中诚认证中心有限公司",
                           english_name="Zhongcheng Certification Centre")
    with app.app_context():
        outlet_id = make_outlet(provider.organization_id)
        scheme_id = make_scheme()
        db.session.commit()
    return World(provider, certifier, outlet_id, scheme_id)


def certifier_actor(world: World) -> Actor:
    return Actor(user=db.session.get(User, world.certifier.user_id))


def application(world: World, *, outlet_id=None, scheme_id=None,
                purpose=ApplicationPurpose.INITIAL, certificate_id=None,
                status=ApplicationStatus.CERTIFIED) -> CertificationApplication:
    row = CertificationApplication(
        outlet_id=outlet_id or world.outlet_id, provider_id=world.provider.organization_id,
        certifier_id=world.certifier.organization_id, scheme_id=scheme_id or world.scheme_id,
        purpose=purpose, status=status, certificate_id=certificate_id)
    db.session.add(row)
    db.session.flush()
    return row


def issue(app, world: World, on: date = ISSUED_ON, **kwargs) -> tuple[str, str]:
    """Issue and commit; (number, verification code)."""
    with app.app_context():
        certificate = certificates.issue(certifier_actor(world), application(world, **kwargs), on)
        db.session.commit()
        return certificate.number, certificate.verification_code


def status_of(app, number: str) -> tuple[str, bool]:
    with app.app_context():
        certificate = db.session.query(Certificate).filter_by(number=number).one()
        return certificate.status.value, db.session.get(Outlet, certificate.outlet_id).certified


def run_tick(app, when: datetime) -> dict:
    with app.app_context():
        result = tick.run(when)
        db.session.commit()
        return result


def shanghai(year, month, day, hour=0, minute=0) -> datetime:
    """A moment given in China time (UTC+8), as the aware UTC datetime the tick receives."""
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def notification_count(app, event: str | None = None) -> int:
    with app.app_context():
        query = db.session.query(Notification)
        if event:
            query = query.filter_by(event=event)
        return query.count()


def audit_count(app, action: str) -> int:
    with app.app_context():
        return db.session.query(AuditEvent).filter_by(action=action).count()


# --- issue --------------------------------------------------------------------------------

def test_issue_allocates_numbers_codes_and_dates_and_sets_the_mark(app, world):
    number, code = issue(app, world)
    second_outlet = None
    with app.app_context():
        second_outlet = make_outlet(world.provider.organization_id, name="宝安回收服务网点")
        db.session.commit()
    second, second_code = issue(app, world, outlet_id=second_outlet)
    assert (number, second) == ("OPC-2026-000001", "OPC-2026-000002")
    assert len(code) == 32 and code != second_code
    with app.app_context():
        certificate = db.session.query(Certificate).filter_by(number=number).one()
        assert certificate.status is CertificateStatus.VALID
        assert certificate.scope == "collection"
        assert (certificate.issued_on, certificate.expires_on, certificate.next_surveillance_due) == (
            date(2026, 1, 15), date(2029, 1, 15), date(2027, 1, 15))
        assert db.session.get(Outlet, world.outlet_id).certified is True
        app_row = db.session.get(CertificationApplication, certificate.application_id)
        assert app_row.certificate_id == certificate.id
    assert audit_count(app, "certificate.issued") == 2
    assert notification_count(app, "certificate.issued") == 2
    mails = [m for m in app.extensions["outbox"] if "OPC-2026-000001" in m["Subject"]]
    assert mails and mails[0]["To"] == world.provider.email


def test_a_certificate_issued_on_31_january_expires_at_the_end_of_february(app, world):
    with app.app_context():
        scheme_id = make_scheme(validity_months=13, surveillance_interval_months=1, code="SHORT")
        db.session.commit()
    number, _ = issue(app, world, on=date(2027, 1, 31), scheme_id=scheme_id)
    with app.app_context():
        certificate = db.session.query(Certificate).filter_by(number=number).one()
        assert certificate.number.startswith("OPC-2027-")
        assert certificate.expires_on == date(2028, 2, 29)
        assert certificate.next_surveillance_due == date(2027, 2, 28)


@pytest.mark.parametrize(("purpose", "status"), [
    (ApplicationPurpose.INITIAL, ApplicationStatus.AUDITED),
    (ApplicationPurpose.SURVEILLANCE, ApplicationStatus.CERTIFIED),
])
def test_issue_needs_an_initial_application_decided_as_certified(app, world, purpose, status):
    from services.errors import Conflict

    with app.app_context(), pytest.raises(Conflict):
        certificates.issue(certifier_actor(world), application(world, purpose=purpose, status=status),
                           ISSUED_ON)


def test_issue_twice_for_one_application_is_refused(app, world):
    from services.errors import Conflict

    with app.app_context():
        row = application(world)
        certificates.issue(certifier_actor(world), row, ISSUED_ON)
        with pytest.raises(Conflict):
            certificates.issue(certifier_actor(world), row, ISSUED_ON)


def test_only_the_applications_certifier_may_issue(app, world, make_party):
    from services.errors import PermissionDenied

    other = make_party("certifier")
    with app.app_context(), pytest.raises(PermissionDenied):
        certificates.issue(Actor(user=db.session.get(User, other.user_id)), application(world),
                           ISSUED_ON)


@pytest.fixture
def postgres_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("concurrency is exercised on PostgreSQL")


def test_parallel_issues_get_distinct_numbers(app, world, postgres_only):
    with app.app_context():
        outlets = [make_outlet(world.provider.organization_id, name=f"网点{i}") for i in range(8)]
        applications = [application(world, outlet_id=o).id for o in outlets]
        db.session.commit()

    def issue_one(application_id):
        with app.app_context():
            row = db.session.get(CertificationApplication, application_id)
            number = certificates.issue(certifier_actor(world), row, ISSUED_ON).number
            db.session.commit()
            return number

    with ThreadPoolExecutor(max_workers=8) as pool:
        numbers = list(pool.map(issue_one, applications))
    assert sorted(numbers) == [f"OPC-2026-{n:06d}" for n in range(1, 9)]
    with app.app_context():
        from services import audit

        assert audit.verify_chain().ok


def test_overlapping_ticks_and_suspensions_act_once(app, world, postgres_only):
    first, _ = issue(app, world)
    with app.app_context():
        second_outlet = make_outlet(world.provider.organization_id, name="宝安回收服务网点")
        db.session.commit()
    second, _ = issue(app, world, outlet_id=second_outlet)

    def tick_once(_):
        return run_tick(app, shanghai(2027, 1, 16))["certificates.surveillance_overdue"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(tick_once, range(4))) == [0, 0, 0, 2]
    assert audit_count(app, "certificate.suspended") == 2

    def withdraw(_):
        client = app.test_client()
        return client.post(f"/api/v1/certificates/{first}/withdraw", json={"reason": "x"},
                           headers=world.certifier.headers).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sorted(pool.map(withdraw, range(4))) == [200, 409, 409, 409]
    assert audit_count(app, "certificate.withdrawn") == 1
    assert status_of(app, second) == ("suspended", False)


# --- public verification ------------------------------------------------------------------

def verify_api(client, number, **params):
    return client.get(f"/api/v1/certificates/{number}", query_string=params, headers=EN)


def lapse(app, world, number, how):
    with app.app_context():
        certificate = db.session.query(Certificate).filter_by(number=number).one()
        if how == "suspended":
            certificates.suspend(certifier_actor(world), certificate, "Fire extinguishers missing")
        elif how == "withdrawn":
            certificates.withdraw(certifier_actor(world), certificate, "Outlet closed")
        db.session.commit()
    if how == "expired":
        run_tick(app, shanghai(2029, 1, 15))


@pytest.mark.parametrize("status", ["valid", "suspended", "withdrawn", "expired"])
def test_anyone_verifies_a_certificate_by_number(app, client, world, status):
    number, _ = issue(app, world)
    if status == "expired":
        with app.app_context():  # no surveillance due, so only expiry is in play
            certificate = db.session.query(Certificate).filter_by(number=number).one()
            certificate.next_surveillance_due = None
            db.session.commit()
    lapse(app, world, number, status)
    response = verify_api(client, number)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == body["verdict"] == status
    assert body["outlet"]["name"] == "南山回收服务网点"
    assert (body["outlet"]["city"], body["outlet"]["city_name"]) == ("440300", "深圳市")
    assert body["scope"] == "collection"
    assert (body["issued_on"], body["expires_on"]) == ("2026-01-15", "2029-01-15")
    assert body["certifier"]["name"] == "中诚认证中心有限公司"
    assert body["scheme"]["code"] == "OPC-RSO"
    assert body["code_checked"] is False and body["code_matches"] is None
    assert "Fire extinguishers" not in str(body) and "Outlet closed" not in str(body)
    assert ("genuine and valid" in body["message"]) == (status == "valid")

    page = client.get(f"/verify/{number}", headers=EN)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-verdict="{status}"' in html and "南山回收服务网点" in html


def test_the_right_code_confirms_and_a_wrong_one_warns_of_forgery(app, client, world):
    number, code = issue(app, world)
    good = verify_api(client, number, code=code).json
    assert good["verdict"] == "valid" and good["code_matches"] is True
    bad = verify_api(client, number, code="x" * 32).json
    assert bad["verdict"] == "code_mismatch" and bad["code_matches"] is False
    assert "forged" in bad["message"]
    page = client.get(f"/verify/{number}?code=nottherightcode", headers=EN).get_data(as_text=True)
    assert 'data-verdict="code_mismatch"' in page and "may be forged" in page


def test_lower_case_and_spaces_around_a_number_still_find_it(app, client, world):
    number, _ = issue(app, world)
    assert verify_api(client, f" {number.lower()} ").status_code == 200


@pytest.mark.parametrize("number", ["OPC-2026-999999", "nonsense", "OPC-2026-000001%00", "x" * 300,
                                    "%E2%80%AE", "' OR 1=1 --"])
def test_unknown_numbers_are_404_in_the_error_shape_and_a_clear_page(client, number):
    response = client.get(f"/api/v1/certificates/{number}", headers=EN)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    assert "No certificate with the number" in response.json["error"]["message"]
    page = client.get(f"/verify/{number}", headers=EN)
    assert page.status_code == 404
    assert 'data-verdict="not_found"' in page.get_data(as_text=True)


def test_the_verify_form_leads_to_the_result(app, client, world):
    number, code = issue(app, world)
    form = client.get("/verify", headers=EN)
    assert form.status_code == 200 and 'name="number"' in form.get_data(as_text=True)
    response = client.get("/verify", query_string={"number": number, "code": code})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/verify/{number}?code={code}")


def test_verification_is_rate_limited_per_address(app, client, world):
    number, _ = issue(app, world)
    app.config["VERIFY_RATELIMIT"] = "3 per minute"
    try:
        statuses = [verify_api(client, number).status_code for _ in range(2)]
        statuses.append(client.get(f"/verify/{number}").status_code)
        blocked = verify_api(client, number)
        assert statuses == [200, 200, 200]
        assert blocked.status_code == 429
        assert blocked.json["error"]["code"] == "too_many_requests"
        other = client.get(f"/api/v1/certificates/{number}", environ_base={"REMOTE_ADDR": "10.0.0.9"})
        assert other.status_code == 200
    finally:
        app.config.pop("VERIFY_RATELIMIT")


# --- status changes by the certifier ------------------------------------------------------

def test_the_issuing_certifier_suspends_then_withdraws_with_a_reason(app, client, world):
    number, _ = issue(app, world)
    base = f"/api/v1/certificates/{number}"
    missing = client.post(f"{base}/suspend", json={}, headers={**world.certifier.headers, **EN})
    assert missing.status_code == 422 and "reason" in missing.json["error"]["fields"]
    blank = client.post(f"{base}/suspend", json={"reason": "   "}, headers=world.certifier.headers)
    assert blank.status_code == 422

    suspended = client.post(f"{base}/suspend", json={"reason": "灭火器缺失"},
                            headers=world.certifier.headers)
    assert suspended.status_code == 200, suspended.json
    assert suspended.json["status"] == "suspended" and suspended.json["status_reason"] == "灭火器缺失"
    assert status_of(app, number) == ("suspended", False)
    again = client.post(f"{base}/suspend", json={"reason": "again"}, headers=world.certifier.headers)
    assert again.status_code == 409

    withdrawn = client.post(f"{base}/withdraw", json={"reason": "网点关闭"},
                            headers=world.certifier.headers)
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert client.post(f"{base}/withdraw", json={"reason": "x"},
                       headers=world.certifier.headers).status_code == 409
    assert audit_count(app, "certificate.suspended") == audit_count(app, "certificate.withdrawn") == 1
    with app.app_context():
        provider_events = [n.event for n in db.session.query(Notification).filter_by(
            organization_id=world.provider.organization_id).order_by(Notification.id)]
    assert provider_events == ["certificate.issued", "certificate.suspended", "certificate.withdrawn"]
    mail = app.extensions["outbox"][-1]
    assert mail["To"] == world.provider.email and "网点关闭" in mail.get_content()


def test_nobody_else_can_suspend(app, client, world, make_party):
    number, _ = issue(app, world)
    other = make_party("certifier")
    for party in (other, world.provider):
        response = client.post(f"/api/v1/certificates/{number}/suspend", json={"reason": "x"},
                               headers=party.headers)
        assert response.status_code == 404
    assert client.post(f"/api/v1/certificates/{number}/suspend",
                       json={"reason": "x"}).status_code == 401
    assert status_of(app, number) == ("valid", True)


def test_the_mark_disappears_from_the_pool_when_a_certificate_lapses(app, client, world):
    number, _ = issue(app, world)

    def certified_names():
        response = client.get("/api/v1/outlets", query_string={"certified": "true"})
        assert response.status_code == 200
        return [item["name"] for item in response.json["items"]]

    assert certified_names() == ["南山回收服务网点"]
    with app.app_context():
        assert [c.number for c in certificates.valid_for_outlet(world.outlet_id)] == [number]
    assert client.get(f"/api/v1/outlets/{world.outlet_id}").json["certified"] is True
    client.post(f"/api/v1/certificates/{number}/suspend", json={"reason": "x"},
                headers=world.certifier.headers)
    assert certified_names() == []
    assert client.get(f"/api/v1/outlets/{world.outlet_id}").json["certified"] is False
    with app.app_context():
        assert certificates.valid_for_outlet(world.outlet_id) == []


def test_another_valid_certificate_keeps_the_mark(app, world):
    with app.app_context():
        other_scheme = make_scheme(code="OTHER")
        db.session.commit()
    first, _ = issue(app, world)
    issue(app, world, scheme_id=other_scheme)
    lapse(app, world, first, "suspended")
    assert status_of(app, first) == ("suspended", True)


def test_surveillance_moves_the_due_date_and_a_follow_up_reinstates(app, world):
    number, _ = issue(app, world)
    with app.app_context():
        certificate = db.session.query(Certificate).filter_by(number=number).one()
        surveillance = application(world, purpose=ApplicationPurpose.SURVEILLANCE,
                                   certificate_id=certificate.id)
        certificates.record_surveillance(certifier_actor(world), surveillance, date(2027, 1, 10))
        assert certificate.next_surveillance_due == date(2028, 1, 10)
        db.session.commit()
    assert run_tick(app, shanghai(2027, 6, 1))["certificates.surveillance_overdue"] == 0
    # the next one is missed: suspended, then a follow-up audit reinstates it
    run_tick(app, shanghai(2028, 1, 11))
    assert status_of(app, number) == ("suspended", False)
    with app.app_context():
        follow_up = application(world, purpose=ApplicationPurpose.FOLLOW_UP)  # found without the id
        certificate = certificates.reinstate(certifier_actor(world), follow_up, date(2028, 2, 1))
        # the follow-up counts as the missed surveillance; the next would fall after expiry
        assert certificate.next_surveillance_due is None
        db.session.commit()
    assert status_of(app, number) == ("valid", True)
    assert notification_count(app, "certificate.reinstated") == 1
    assert run_tick(app, shanghai(2028, 2, 2))["certificates.surveillance_overdue"] == 0


def test_a_follow_up_cannot_revive_an_expired_certificate(app, world):
    from services.errors import Conflict

    number, _ = issue(app, world)
    lapse(app, world, number, "suspended")
    with app.app_context():
        follow_up = application(world, purpose=ApplicationPurpose.FOLLOW_UP)
        with pytest.raises(Conflict):
            certificates.reinstate(certifier_actor(world), follow_up, date(2029, 2, 1))


# --- time: the tick -----------------------------------------------------------------------

def test_expiry_by_tick_follows_the_china_calendar_and_is_idempotent(app, world):
    with app.app_context():
        scheme_id = make_scheme(code="NOSURV", surveillance_interval_months=36)
        db.session.commit()
    number, _ = issue(app, world, scheme_id=scheme_id)
    with app.app_context():
        assert db.session.query(Certificate).one().next_surveillance_due is None

    assert run_tick(app, shanghai(2029, 1, 14, 23, 59))["certificates.expire"] == 0
    assert status_of(app, number) == ("valid", True)
    first = run_tick(app, shanghai(2029, 1, 15, 0, 0))
    assert first["certificates.expire"] == 1
    after_first = (status_of(app, number), notification_count(app), audit_count(app, "certificate.expired"))
    second = run_tick(app, shanghai(2029, 1, 15, 0, 0))
    assert second["certificates.expire"] == 0
    assert (status_of(app, number), notification_count(app),
            audit_count(app, "certificate.expired")) == after_first
    assert after_first[0] == ("expired", False)
    with app.app_context():
        certifier_told = db.session.query(Notification).filter_by(
            event="certificate.expired", organization_id=world.certifier.organization_id).count()
    assert certifier_told == 1


def test_a_suspended_certificate_expires_too(app, world):
    number, _ = issue(app, world)
    lapse(app, world, number, "suspended")
    run_tick(app, shanghai(2029, 1, 15))
    assert status_of(app, number) == ("expired", False)


def test_a_missed_surveillance_suspends_once(app, world):
    number, _ = issue(app, world)
    assert run_tick(app, shanghai(2027, 1, 15, 23, 0))["certificates.surveillance_overdue"] == 0
    first = run_tick(app, shanghai(2027, 1, 16))
    assert first["certificates.surveillance_overdue"] == 1
    state = (status_of(app, number), notification_count(app))
    second = run_tick(app, shanghai(2027, 1, 16))
    assert second["certificates.surveillance_overdue"] == 0
    assert (status_of(app, number), notification_count(app)) == state
    assert state[0] == ("suspended", False)
    with app.app_context():
        certificate = db.session.query(Certificate).one()
        assert "2027-01-15" in certificate.status_reason
        assert certificate.status_changed_at == shanghai(2027, 1, 16)


def test_the_surveillance_grace_period_is_configurable(app, world):
    number, _ = issue(app, world)
    app.config["CERTIFICATE_SURVEILLANCE_GRACE_DAYS"] = 10
    try:
        run_tick(app, shanghai(2027, 1, 25))
        assert status_of(app, number) == ("valid", True)
        run_tick(app, shanghai(2027, 1, 26))
        assert status_of(app, number) == ("suspended", False)
    finally:
        app.config.pop("CERTIFICATE_SURVEILLANCE_GRACE_DAYS")


def test_the_expiry_warning_goes_once_60_days_ahead(app, world):
    with app.app_context():
        scheme_id = make_scheme(code="NOSURV", surveillance_interval_months=36)
        db.session.commit()
    issue(app, world, scheme_id=scheme_id)  # expires 2029-01-15; 60 days before: 2028-11-16
    assert run_tick(app, shanghai(2028, 11, 15))["certificates.expiry_warning"] == 0
    assert run_tick(app, shanghai(2028, 11, 16))["certificates.expiry_warning"] == 1
    assert run_tick(app, shanghai(2028, 11, 16))["certificates.expiry_warning"] == 0
    assert run_tick(app, shanghai(2028, 12, 20))["certificates.expiry_warning"] == 0
    assert notification_count(app, "certificate.expiring") == 1
    mail = next(m for m in app.extensions["outbox"] if "2029-01-15" in m["Subject"])
    assert mail["To"] == world.provider.email


def test_flask_tick_command_with_a_given_now(app, world):
    number, _ = issue(app, world)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tick", "--now", "2027-01-16T00:00:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "certificates.surveillance_overdue=1" in result.output
    assert status_of(app, number) == ("suspended", False)
    again = runner.invoke(args=["tick", "--now", "2027-01-16T00:00:00+08:00"])
    assert "certificates.surveillance_overdue=0" in again.output


def test_verification_says_expired_even_before_the_tick_runs(app, world):
    number, _ = issue(app, world)
    with app.app_context():
        verification = certificates.verify(number, today=date(2029, 1, 15))
        assert verification.verdict == "expired"


# --- the PDF ------------------------------------------------------------------------------

def pdf_text(body: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(body)).pages)


def test_holders_download_the_pdf_in_chinese_and_english(app, client, world):
    number, code = issue(app, world)
    response = client.get(f"/api/v1/certificates/{number}/pdf", headers=world.provider.headers)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{number}.pdf"'
    text = pdf_text(response.data)
    for expected in ("南山回收服务网点", "回收服务网点认证证书", "收集型回收服务网点",
                     "Collection-type recycling service outlet", number, code,
                     "中诚认证中心有限公司", "2029-01-15"):
        assert expected in text
    assert f"/verify/{number}?code={code}" in text.replace("\n", "")
    login(client, world.certifier.email)
    page = client.get(f"/certificates/{number}.pdf")
    assert page.status_code == 200 and page.data[:5] == b"%PDF-"


def test_the_public_needs_the_code_and_a_valid_certificate_for_the_pdf(app, client, world):
    number, code = issue(app, world)
    assert client.get(f"/certificates/{number}.pdf").status_code == 404
    assert client.get(f"/certificates/{number}.pdf?code=wrong").status_code == 404
    assert client.get(f"/certificates/{number}.pdf?code={code}").status_code == 200
    lapse(app, world, number, "suspended")
    assert client.get(f"/certificates/{number}.pdf?code={code}").status_code == 404
    held = client.get(f"/api/v1/certificates/{number}/pdf", headers=world.certifier.headers)
    assert held.status_code == 200
    assert "本证书已暂停" in pdf_text(held.data)


def test_other_organizations_cannot_download_without_the_code(app, client, world, make_party):
    number, _ = issue(app, world)
    stranger = make_party("provider")
    assert client.get(f"/api/v1/certificates/{number}/pdf",
                      headers=stranger.headers).status_code == 404


# --- listings and pages -------------------------------------------------------------------

def test_each_organization_lists_its_own_certificates(app, client, world, make_party):
    number, _ = issue(app, world)
    for party in (world.certifier, world.provider):
        response = client.get(f"/api/v1/organizations/{party.organization_id}/certificates",
                              headers=party.headers)
        assert response.status_code == 200
        assert [c["number"] for c in response.json["items"]] == [number]
        assert response.json["items"][0]["verification_code"]
    stranger = make_party("provider")
    assert client.get(f"/api/v1/organizations/{stranger.organization_id}/certificates",
                      headers=stranger.headers).json["total"] == 0
    assert client.get(f"/api/v1/organizations/{world.provider.organization_id}/certificates",
                      headers=stranger.headers).status_code == 404
    bad = client.get(f"/api/v1/organizations/{world.provider.organization_id}/certificates",
                     query_string={"status": "bogus"}, headers=world.provider.headers)
    assert bad.status_code == 422 and "status" in bad.json["error"]["fields"]


def test_certifier_pages_suspend_with_a_reason(app, client, world):
    number, _ = issue(app, world)
    login(client, world.certifier.email)
    listing = client.get("/certificates", headers=EN).get_data(as_text=True)
    assert number in listing and 'data-testid="row-actions"' in listing
    detail = client.get(f"/certificates/{number}", headers=EN)
    assert detail.status_code == 200
    assert 'data-testid="suspend-form"' in detail.get_data(as_text=True)
    path = f"/certificates/{number}/suspend"
    empty = form_post(client, path, {"suspend-reason": ""}, page_path=f"/certificates/{number}")
    assert empty.status_code == 302
    assert status_of(app, number) == ("valid", True)
    done = form_post(client, path, {"suspend-reason": "烟感报警器失效"},
                     page_path=f"/certificates/{number}")
    assert done.status_code == 302
    assert status_of(app, number) == ("suspended", False)
    page = client.get(f"/certificates/{number}", headers=EN).get_data(as_text=True)
    assert "烟感报警器失效" in page and 'data-testid="withdraw-form"' in page
    assert 'data-testid="suspend-form"' not in page


def test_the_provider_sees_its_certificate_without_the_forms(app, client, world, make_party):
    number, _ = issue(app, world)
    login(client, world.provider.email)
    page = client.get(f"/certificates/{number}", headers=EN).get_data(as_text=True)
    assert number in page and "suspend-form" not in page
    listing = client.get("/certificates", headers=EN).get_data(as_text=True)
    assert number in listing and "row-actions" not in listing
    stranger = make_party("provider")
    other = app.test_client()
    login(other, stranger.email)
    assert other.get(f"/certificates/{number}").status_code == 404


def test_certified_by_province_counts_and_shares(app, world):
    with app.app_context():
        make_outlet(world.provider.organization_id, name="广州网点", province_code="440000",
                    city_code="440100", district_code=None)
        make_outlet(world.provider.organization_id, name="杭州网点", province_code="330000",
                    city_code="330100", district_code=None)
        make_outlet(world.provider.organization_id, name="旧网点", status="delisted")
        db.session.commit()
    issue(app, world)
    with app.app_context():
        stats = certificates.certified_by_province()
    assert (stats["outlets"], stats["certified"], stats["share"]) == (3, 1, pytest.approx(1 / 3, abs=1e-4))
    guangdong = stats["by_province"][0]
    assert (guangdong["province"], guangdong["name"], guangdong["outlets"], guangdong["certified"],
            guangdong["share"]) == ("440000", "广东省", 2, 1, 0.5)
    assert stats["by_province"][1]["certified"] == 0


def test_national_statistics_show_certified_counts_by_province(app, client, world):
    issue(app, world)
    stats = client.get("/api/v1/stats/national").json
    assert stats["certified"]["certified"] == 1
    guangdong = next(r for r in stats["certified"]["by_province"] if r["province"] == "440000")
    assert guangdong["certified"] == 1
    page = client.get("/stats", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'data-testid="certified-by-province"' in page


def test_openapi_documents_verification(client):
    spec = client.get("/api/v1/openapi.json").json
    assert "/api/v1/certificates/{number}" in spec["paths"]
    assert "/api/v1/notifications" in spec["paths"]


def test_number_format(app, world):
    number, _ = issue(app, world)
    assert re.fullmatch(r"OPC-\d{4}-\d{6}", number)
