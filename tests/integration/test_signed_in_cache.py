"""Who is signed in comes from the "accounts" cache: no user query on a request once they are
kept, and every change to who they are (deactivation, revocation, roles, verification, unread
notifications) counts from the next request."""

from __future__ import annotations

from sqlalchemy import update

from app.extensions import db
from app.models import Membership, Organization, User, VerificationStatus
from tests.conftest import csrf_token_from
from tests.integration.conftest import PASSWORD, login, recorded_statements


def _reads_of_users(seen: list[str]) -> list[str]:
    return [s for s in seen if "from users" in s]


def _change(app, statement) -> None:
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()


def test_a_signed_in_page_and_an_api_call_read_no_user_once_kept(app, client, make_party):
    party = make_party()
    login(client, party.email)
    client.get("/dashboard")
    client.get("/api/v1/me", headers=party.headers)
    with recorded_statements(app) as seen:
        assert client.get("/dashboard").status_code == 200
        me = client.get("/api/v1/me", headers=party.headers)
    assert me.status_code == 200 and me.get_json()["user"]["email"] == party.email
    assert _reads_of_users(seen) == []


def test_a_deactivated_user_is_refused_at_once(app, client, make_party):
    party = make_party()
    login(client, party.email)
    assert client.get("/dashboard").status_code == 200
    assert client.get("/api/v1/me", headers=party.headers).status_code == 200
    _change(app, update(User).where(User.id == party.user_id).values(is_active_flag=False))
    assert client.get("/dashboard").status_code == 302
    assert client.get("/api/v1/me", headers=party.headers).status_code == 401


def test_a_new_role_and_a_lost_verification_count_at_once(app, client, make_party):
    party = make_party()

    def membership() -> dict:
        return client.get("/api/v1/me", headers=party.headers).get_json()["memberships"][0]

    assert membership()["role"] == "owner"
    _change(app, update(Membership).where(Membership.user_id == party.user_id).values(role="member"))
    assert membership()["role"] == "member"
    assert membership()["organization"]["verification_status"] == "verified"
    _change(app, update(Organization).where(Organization.id == party.organization_id)
            .values(verification_status=VerificationStatus.PENDING))
    assert membership()["organization"]["verification_status"] == "pending"


def test_the_unread_count_follows_new_notifications(app, client, make_party):
    from services import notifications

    party = make_party()
    login(client, party.email)
    assert 'data-testid="unread-count"' not in client.get("/dashboard").get_data(as_text=True)
    with app.app_context():
        notifications.notify([party.organization_id], "certificate.suspended",
                             {"number": "OPC-2026-000001", "outlet": "南山回收服务网点",
                              "reason": "灭火器缺失", "expires": "2029-01-15"})
        db.session.commit()
    assert 'data-testid="unread-count"' in client.get("/dashboard").get_data(as_text=True)


def test_the_password_hash_is_never_cached_and_still_checked(app, client, make_party, shared,
                                                             as_another_process):
    party = make_party()
    login(client, party.email)
    client.get("/dashboard")
    with app.app_context():
        password_hash = db.session.get(User, party.user_id).password_hash
    assert shared.store and not any(password_hash.encode() in value for value in shared.store.values())
    as_another_process()
    with recorded_statements(app) as seen:
        page = client.get("/organization/tokens")
    assert page.status_code == 200 and _reads_of_users(seen) == []  # from the shared level
    token = csrf_token_from(page.get_data(as_text=True))
    wrong = client.post("/organization/tokens", data={"name": "x", "password": "wrong", "csrf_token": token})
    assert wrong.status_code == 200 and 'data-testid="new-token"' not in wrong.get_data(as_text=True)
    made = client.post("/organization/tokens", data={"name": "x", "password": PASSWORD, "csrf_token": token})
    assert 'data-testid="new-token"' in made.get_data(as_text=True)
