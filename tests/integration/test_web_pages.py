"""The pages a person uses: sign-up, sign-in, reset, profile, operator queue; CSRF; headers."""

import re

from app.extensions import db
from app.models import Organization
from tests.conftest import csrf_token_from
from tests.integration.conftest import PASSWORD, credit_code_for, form_post, login


def signup_form(sequence=501, **overrides):
    data = {"kind": "manufacturer", "provider_type": "", "legal_name": "网页测试汽车有限公司",
            "english_name": "Web Test Motors", "credit_code": credit_code_for(sequence),
            "address": "上海市浦东新区张江路1号", "contact_name": "张三",
            "contact_phone": "021-1234", "contact_email": "", "name": "张三",
            "email": "web@example.com", "password": PASSWORD}
    data.update(overrides)
    return data


def test_sign_up_in_the_browser_lands_on_the_dashboard_pending(app, client):
    response = form_post(client, "/signup", signup_form())
    assert response.status_code == 302
    dashboard = client.get(response.headers["Location"], headers={"Accept-Language": "en"})
    assert "Pending verification" in dashboard.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(Organization).one().division_code == "310115"


def test_a_bad_credit_code_re_renders_the_form_with_the_reason_and_the_typed_data(client):
    bad = signup_form(credit_code="91350100M000100Y44")
    response = form_post(client, "/signup", bad)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "check character is wrong" in html or "校验码" in html
    assert 'value="网页测试汽车有限公司"' in html


def test_sign_in_and_out(client, make_party):
    party = make_party()
    response = login(client, party.email)
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200
    page = client.get("/dashboard")
    client.post("/logout", data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert client.get("/dashboard").status_code == 302  # back to the sign-in page


def test_wrong_password_shows_an_error_not_which_part_was_wrong(client, make_party):
    party = make_party()
    response = login(client, party.email, "wrong password")
    assert response.status_code == 401
    assert login(client, "nobody@example.com", "wrong password").status_code == 401


def test_forms_without_the_csrf_token_are_refused(client, make_party):
    party = make_party()
    response = client.post("/login", data={"email": party.email, "password": PASSWORD})
    assert response.status_code == 400
    login(client, party.email)
    # a session-authenticated API call that changes state needs the token as well
    api = client.patch(f"/api/v1/organizations/{party.organization_id}",
                       json={"english_name": "x"})
    assert api.status_code == 400
    assert api.json["error"]["code"] == "csrf_failed"


def test_password_reset_by_emailed_token_is_single_use(app, client, make_party):
    party = make_party()
    form_post(client, "/password/forgot", {"email": party.email})
    body = app.extensions["outbox"][-1].get_content()
    token = re.search(r"/password/reset/([\w.\-]+)", body).group(1)
    reset = form_post(client, f"/password/reset/{token}", {"password": "a brand new secret"})
    assert reset.status_code == 302
    client.get("/logout")
    fresh = app.test_client()
    assert login(fresh, party.email, "a brand new secret").status_code == 302
    assert fresh.get(f"/password/reset/{token}").status_code == 302  # used: back to "forgot"


def test_reset_request_for_an_unknown_address_looks_the_same(app, client):
    response = form_post(client, "/password/forgot", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert app.extensions["outbox"] == []


def test_operator_works_the_verification_queue_in_the_browser(app, client, make_party, operator):
    pending = make_party("provider", verified=False)
    login(client, operator.email)
    queue = client.get("/operator/verifications", headers={"Accept-Language": "en"})
    assert "Verification queue" in queue.get_data(as_text=True)
    review = f"/operator/organizations/{pending.organization_id}"
    shown = client.get(review, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Site provider · Comprehensive-utilization firm" in shown  # its type in words, not a code
    refused = form_post(client, review, {"status": "rejected", "reason": ""})
    assert refused.status_code == 422
    done = form_post(client, review, {"status": "verified", "reason": ""})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(Organization, pending.organization_id).is_verified
    audit = client.get("/operator/audit").get_data(as_text=True)
    assert "organization.verified" in audit


def test_non_operators_get_403_on_operator_pages(client, make_party):
    party = make_party()
    login(client, party.email)
    assert client.get("/operator/verifications").status_code == 403
    assert client.get("/operator/audit").status_code == 403


def test_members_page_invites_and_lists(app, client, make_party):
    party = make_party("certifier")
    login(client, party.email)
    response = form_post(client, "/organization/members",
                         {"email": "colleague@example.com", "role": "member"})
    assert response.status_code == 302
    page = client.get("/organization/members").get_data(as_text=True)
    assert "colleague@example.com" in page


def test_api_token_page_shows_the_token_once(client, make_party):
    party = make_party(with_token=False)
    login(client, party.email)
    page = form_post(client, "/organization/tokens", {"name": "ERP", "password": PASSWORD})
    token = re.search(r'data-testid="new-token">(op_[\w-]+)<', page.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert token not in client.get("/organization/tokens").get_data(as_text=True)


def test_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert response.headers["X-Frame-Options"] == "DENY"
    [session_cookie] = [c for c in response.headers.getlist("Set-Cookie")
                        if c.startswith("session=")]
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie


def test_open_redirects_are_refused(client, make_party):
    party = make_party()
    page = client.get("/login")
    response = client.post("/login?next=https://evil.example/", data={
        "email": party.email, "password": PASSWORD,
        "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert response.headers["Location"] == "/dashboard"
    assert client.get("/lang/en?next=//evil.example").headers["Location"] == "/"
