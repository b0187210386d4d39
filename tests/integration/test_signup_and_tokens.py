"""Sign-up, sign-in to a token, /me: the contract points integrators rely on."""

from app.extensions import db
from app.models import AuditEvent, Organization
from tests.integration.conftest import PASSWORD, org_payload


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_signup_creates_a_pending_organization_and_its_owner(app, client):
    payload = org_payload("provider", email="Owner@Example.com")
    response = client.post("/api/v1/signup", json=payload)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["organization_id"] and body["user_id"]
    assert body["organization"]["verification_status"] == "pending"
    assert body["organization"]["division"]["code"] == "440305"  # 南山区
    with app.app_context():
        organization = db.session.get(Organization, body["organization_id"])
        assert organization.credit_code == payload["organization"]["credit_code"]
        assert organization.memberships[0].role.value == "owner"
        assert organization.memberships[0].user.email == "owner@example.com"
        actions = [e.action for e in db.session.query(AuditEvent)]
        assert "organization.signed_up" in actions


def test_a_wrong_check_character_is_refused_naming_the_field(client):
    payload = org_payload()
    code = payload["organization"]["credit_code"]
    payload["organization"]["credit_code"] = code[:17] + ("0" if code[17] != "0" else "1")
    response = client.post("/api/v1/signup", json=payload, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_failed"
    message = " ".join(error["fields"]["organization"]["credit_code"])
    assert "check character is wrong" in message and f"expected {code[17]}" in message


def test_every_bad_field_is_reported_at_once_and_nothing_is_written(app, client):
    payload = org_payload()
    payload["organization"].update(address="somewhere unknown", credit_code="123")
    payload["user"].update(password="short", email="not-an-email")
    response = client.post("/api/v1/signup", json=payload)
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert set(fields["organization"]) == {"address", "credit_code"}
    assert set(fields["user"]) == {"password", "email"}
    with app.app_context():
        assert db.session.query(Organization).count() == 0


def test_chinese_clients_get_the_reason_in_chinese(client):
    payload = org_payload()
    code = payload["organization"]["credit_code"]
    payload["organization"]["credit_code"] = code[:17] + ("0" if code[17] != "0" else "1")
    response = client.post("/api/v1/signup", json=payload, headers={"Accept-Language": "zh-CN"})
    assert "校验码" in response.json["error"]["fields"]["organization"]["credit_code"][0]


def test_a_credit_code_registers_once(client):
    payload = org_payload()
    assert client.post("/api/v1/signup", json=payload).status_code == 201
    again = org_payload()
    again["organization"]["credit_code"] = payload["organization"]["credit_code"]
    response = client.post("/api/v1/signup", json=again, headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert "already registered" in response.json["error"]["fields"]["organization"]["credit_code"][0]


def test_operators_cannot_sign_up(client):
    response = client.post("/api/v1/signup", json=org_payload("operator"))
    assert response.status_code == 422
    assert "kind" in response.json["error"]["fields"]["organization"]


def test_sign_in_to_a_token_then_me(client):
    payload = org_payload("certifier", email="c@example.com")
    client.post("/api/v1/signup", json=payload)
    response = client.post("/api/v1/auth/tokens", json={"email": "C@example.com",
                                                        "password": PASSWORD})
    assert response.status_code == 201
    token = response.json["token"]
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json["user"]["email"] == "c@example.com"
    [membership] = me.json["memberships"]
    assert membership["role"] == "owner"
    assert membership["organization"]["kind"] == "certifier"
    assert "password" not in me.json["user"]


def test_wrong_password_gets_401_in_the_error_shape(client, make_party):
    party = make_party()
    response = client.post("/api/v1/auth/tokens", json={"email": party.email, "password": "nope"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_tokens_are_stored_hashed_and_can_be_revoked(app, client, make_party):
    from app.models import ApiToken

    party = make_party()
    with app.app_context():
        stored = [t.token_hash for t in db.session.query(ApiToken)]
    assert party.token not in stored
    listed = client.get("/api/v1/auth/tokens", headers=party.headers).json
    assert all("token" not in t for t in listed)
    revoked = client.delete(f"/api/v1/auth/tokens/{listed[0]['id']}", headers=party.headers)
    assert revoked.status_code == 204
    assert client.get("/api/v1/me", headers=party.headers).status_code == 401


def test_no_token_or_a_bad_token_is_401(client):
    assert client.get("/api/v1/me").status_code == 401
    response = client.get("/api/v1/me", headers={"Authorization": "Bearer op_forged"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_sign_in_is_rate_limited(app, client, make_party):
    party = make_party()
    app.config["RATELIMIT_SIGNIN"] = "3 per minute"
    try:
        statuses = [client.post("/api/v1/auth/tokens",
                                json={"email": party.email, "password": "wrong"}).status_code
                    for _ in range(4)]
    finally:
        app.config["RATELIMIT_SIGNIN"] = "1000 per minute"
    assert statuses == [401, 401, 401, 429]


def test_a_read_only_call_records_the_tokens_last_use_once_in_five_minutes(app, client, make_party):
    """The touch is committed on its own: kept for GETs, not rewritten on every call."""
    from datetime import timedelta

    from sqlalchemy import event, update

    from app.extensions import db
    from app.models import ApiToken
    from app.models.types import utcnow

    party = make_party("manufacturer")
    long_ago = utcnow() - timedelta(days=3)
    with app.app_context():
        db.session.execute(update(ApiToken).values(last_used_at=long_ago))
        db.session.commit()
        engine = db.engine
    assert client.get("/api/v1/me", headers=party.headers).status_code == 200
    with app.app_context():
        assert db.session.scalar(db.select(ApiToken.last_used_at)) > long_ago + timedelta(days=2)

    updates: list[str] = []

    def record(conn, cursor, statement, *rest):
        if statement.startswith("UPDATE api_tokens"):
            updates.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert client.get("/api/v1/me", headers=party.headers).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert updates == []
