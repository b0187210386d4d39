"""Sessions and tokens: a fresh session at sign-in, CSRF on every state-changing page,
revocation at once, throttled sign-in, reset links that expire and work once."""

from __future__ import annotations

import re

import pytest

from tests.conftest import csrf_token_from
from tests.integration.conftest import PASSWORD, form_post, login

# POST routes outside the API that take no CSRF token, and why.
CSRF_EXEMPT = {
    "webhooks.stripe_webhook": "Stripe's calls carry a signature over the raw body instead",
}


def _session(app, client) -> dict:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return app.session_interface.get_signing_serializer(app).loads(cookie.value) if cookie else {}


def test_signing_in_starts_a_fresh_session(app, client, make_party):
    party = make_party()
    client.get("/login")  # a visitor's (or a planted) session: a CSRF token, an organization
    with client.session_transaction() as planted:
        planted["org_id"] = 999
        planted["lang"] = "en"
    before = _session(app, client)
    assert login(client, party.email).status_code == 302
    after = _session(app, client)
    assert after.get("_user_id") == str(party.user_id)
    assert "org_id" not in after and after.get("csrf_token") != before["csrf_token"]
    assert after.get("lang") == "en"  # the language the visitor chose stays
    client.get("/login")  # a token handed out before signing in no longer passes
    stale = client.post("/logout", data={"csrf_token": _stale_token(app, before)})
    assert stale.status_code == 400


def _stale_token(app, session_before: dict) -> str:
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(session_before["csrf_token"])


def test_signing_out_drops_the_session(app, client, make_party):
    party = make_party()
    login(client, party.email)
    page = client.get("/dashboard")
    client.post("/logout", data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert "_user_id" not in _session(app, client) and "csrf_token" not in _session(app, client)


def _web_post_rules(app):
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith("/api/"):
            continue
        yield rule


def _sample(converter) -> str:
    """A value the route's converter accepts, so the request reaches the CSRF check's place."""
    name = type(converter).__name__
    if name == "AnyConverter":  # e.g. <any(accept,decline):action>
        return re.sub(r"\\(.)", r"\1", converter.regex[3:-1].split("|")[0])
    return "x" if name in ("UnicodeConverter", "PathConverter") else "1"


def test_every_state_changing_page_refuses_a_post_without_the_csrf_token(app, client, make_party):
    party = make_party()
    login(client, party.email)
    refused, missing = [], []
    for rule in _web_post_rules(app):
        if rule.endpoint in CSRF_EXEMPT:
            continue
        values = {arg: _sample(rule._converters.get(arg)) for arg in rule.arguments}
        path = rule.rule
        for arg, value in values.items():
            path = re.sub(rf"<(?:[^:<>]+:)?{arg}>", value, path)
        status = client.post(path, data={"anything": "1"}).status_code
        (refused if status == 400 else missing).append((rule.endpoint, path, status))
    assert not missing, f"POST without a CSRF token was not refused: {missing}"
    assert len(refused) > 30  # the walk found the forms


@pytest.mark.parametrize("endpoint", sorted(CSRF_EXEMPT))
def test_the_csrf_exemptions_exist(app, endpoint):
    assert endpoint in {rule.endpoint for rule in app.url_map.iter_rules()}


def test_a_revoked_token_fails_at_once_even_mid_session(client, make_party):
    party = make_party()
    second = client.post("/api/v1/auth/tokens", json={"email": party.email, "password": PASSWORD,
                                                      "name": "second"})
    assert second.status_code == 201, second.get_json()
    other = {"Authorization": f"Bearer {second.get_json()['token']}"}
    assert client.get("/api/v1/me", headers=other).status_code == 200
    token_id = second.get_json()["id"]
    assert client.delete(f"/api/v1/auth/tokens/{token_id}", headers=party.headers).status_code == 204
    assert client.get("/api/v1/me", headers=other).status_code == 401
    assert client.get("/api/v1/me", headers=party.headers).status_code == 200  # only that one


def test_the_sign_in_page_is_throttled(app, client, make_party):
    party = make_party()
    app.config["RATELIMIT_SIGNIN"] = "3 per minute"
    try:
        statuses = []
        for _ in range(4):
            page = client.get("/login")
            statuses.append(client.post("/login", data={
                "email": party.email, "password": "wrong",
                "csrf_token": csrf_token_from(page.get_data(as_text=True))}).status_code)
    finally:
        app.config["RATELIMIT_SIGNIN"] = "1000 per minute"
    assert statuses == [401, 401, 401, 429]


def test_every_rate_limit_is_declared_on_its_view(app):
    """ViewLimiter skips Flask-Limiter's per-request look for blueprint, default and
    application-wide limits; one declared that way would never be enforced."""
    from flask import Flask

    from app.extensions import ViewLimiter, limiter

    assert not [name for name in app.blueprints if limiter.limit_manager.blueprint_limits(app, name)]
    probe = Flask("probe")
    probe.config["RATELIMIT_STORAGE_URI"] = "memory://"
    with pytest.raises(RuntimeError, match="declare rate limits on their views"):
        ViewLimiter(key_func=lambda: "x", default_limits=["1 per day"]).init_app(probe)


def test_a_reset_link_expires(app, client, make_party):
    party = make_party()
    form_post(client, "/password/forgot", {"email": party.email})
    token = re.search(r"/password/reset/([\w.\-]+)", app.extensions["outbox"][-1].get_content()).group(1)
    app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] = -1
    try:
        expired = client.get(f"/password/reset/{token}")
    finally:
        app.config["PASSWORD_RESET_MAX_AGE_SECONDS"] = 3600
    assert expired.status_code == 302 and "/password/forgot" in expired.headers["Location"]
    assert client.get(f"/password/reset/{token}").status_code == 200  # within the hour it works
