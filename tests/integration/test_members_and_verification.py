"""Invitations, roles, operator verification, and organization boundaries."""

import re

from app.extensions import db
from app.models import AuditEvent
from tests.integration.conftest import PASSWORD


def invitation_token(app) -> str:
    [message] = app.extensions["outbox"][-1:]
    return re.search(r"/invitations/([\w-]+)", message.get_content()).group(1)


def test_owner_invites_by_email_and_the_invitee_joins_via_the_api(app, client, make_party):
    owner = make_party("provider")
    response = client.post(f"/api/v1/organizations/{owner.organization_id}/invitations",
                           json={"email": "New@Example.com", "role": "admin"},
                           headers=owner.headers)
    assert response.status_code == 201, response.json
    token = invitation_token(app)
    assert app.extensions["outbox"][-1]["To"] == "new@example.com"

    page = client.get(f"/invitations/{token}")
    assert page.status_code == 200
    from tests.conftest import csrf_token_from

    joined = client.post(f"/invitations/{token}", data={
        "name": "New Admin", "password": PASSWORD,
        "csrf_token": csrf_token_from(page.get_data(as_text=True))})
    assert joined.status_code == 302
    members = client.get(f"/api/v1/organizations/{owner.organization_id}/members",
                         headers=owner.headers).json
    assert {(m["user"]["email"], m["role"]) for m in members} == {
        (owner.email, "owner"), ("new@example.com", "admin")}
    # used once: the link no longer works
    assert client.get(f"/invitations/{token}").status_code == 404


def test_plain_members_cannot_invite(app, client, make_party):
    owner = make_party()
    client.post(f"/api/v1/organizations/{owner.organization_id}/invitations",
                json={"email": "m@example.com", "role": "member"}, headers=owner.headers)
    token = invitation_token(app)
    from services import accounts

    with app.app_context():
        accounts.accept_invitation(token, name="Member", password=PASSWORD)
        user = accounts.find_user_by_email("m@example.com")
        raw = accounts.create_token(user, "t")[1]
        db.session.commit()
    response = client.post(f"/api/v1/organizations/{owner.organization_id}/invitations",
                           json={"email": "x@example.com"},
                           headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403
    assert "role" in response.json["error"]["message"]


def test_the_last_owner_cannot_be_demoted(client, make_party):
    owner = make_party()
    [me] = client.get(f"/api/v1/organizations/{owner.organization_id}/members",
                      headers=owner.headers).json
    response = client.patch(f"/api/v1/organizations/{owner.organization_id}/members/{me['id']}",
                            json={"role": "member"}, headers=owner.headers)
    assert response.status_code == 409


def test_operator_verifies_and_rejects_with_a_reason(app, client, make_party, operator):
    pending = make_party("provider", verified=False)
    path = f"/api/v1/organizations/{pending.organization_id}/verification"
    missing_reason = client.post(path, json={"status": "rejected"}, headers=operator.headers)
    assert missing_reason.status_code == 422
    assert "reason" in missing_reason.json["error"]["fields"]

    rejected = client.post(path, json={"status": "rejected", "reason": "licence blurred"},
                           headers=operator.headers)
    assert rejected.json["verification_status"] == "rejected"
    assert rejected.json["verification_reason"] == "licence blurred"
    verified = client.post(path, json={"status": "verified"}, headers=operator.headers)
    assert verified.status_code == 200 and verified.json["verification_status"] == "verified"
    with app.app_context():
        actions = [e.action for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
    assert actions[-2:] == ["organization.rejected", "organization.verified"]


def test_only_operators_verify(client, make_party):
    maker = make_party()
    other = make_party("provider", verified=False)
    response = client.post(f"/api/v1/organizations/{other.organization_id}/verification",
                           json={"status": "verified"}, headers=maker.headers)
    assert response.status_code == 403


def test_operators_list_the_queue_by_status(client, make_party, operator):
    make_party("provider", verified=False)
    make_party("certifier", verified=False)
    make_party("manufacturer", verified=True)
    queue = client.get("/api/v1/organizations?status=pending", headers=operator.headers).json
    assert queue["total"] == 2
    assert {o["kind"] for o in queue["items"]} == {"provider", "certifier"}
    providers = client.get("/api/v1/organizations?status=pending&kind=provider",
                           headers=operator.headers).json
    assert providers["total"] == 1


def test_no_cross_organization_read_or_write(client, make_party):
    alice = make_party("manufacturer")
    bob = make_party("provider")
    other = f"/api/v1/organizations/{bob.organization_id}"
    assert client.get(other, headers=alice.headers).status_code == 404
    assert client.patch(other, json={"legal_name": "hijacked"},
                        headers=alice.headers).status_code == 404
    assert client.get(f"{other}/members", headers=alice.headers).status_code == 404
    assert client.post(f"{other}/invitations", json={"email": "spy@example.com"},
                       headers=alice.headers).status_code == 404
    mine = client.get("/api/v1/organizations", headers=alice.headers).json
    assert [o["id"] for o in mine["items"]] == [alice.organization_id]
    assert client.get(other, headers=bob.headers).json["legal_name"] != "hijacked"


def test_profile_edit_resolves_the_new_address(client, make_party):
    party = make_party()
    response = client.patch(f"/api/v1/organizations/{party.organization_id}",
                            json={"address": "浙江省杭州市余杭区文一西路969号"},
                            headers=party.headers)
    assert response.status_code == 200, response.json
    assert response.json["division"]["code"] == "330110"


def test_audit_log_is_for_operators_only(client, make_party, operator):
    maker = make_party()
    assert client.get("/api/v1/audit-events", headers=maker.headers).status_code == 403
    events = client.get("/api/v1/audit-events?action=organization.", headers=operator.headers)
    assert events.status_code == 200
    assert events.json["total"] >= 2
    assert all(e["action"].startswith("organization.") for e in events.json["items"])
