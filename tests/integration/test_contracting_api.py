"""Contracting through the API with bearer tokens: the negotiation, signing, scoping, bad
input, a coverage plan turned into requests, the PDF, and what obligations and the pool show."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.certifiers import china_today
from tests.integration.conftest import PASSWORD

REQUESTS = "/api/v1/capacity-requests"
AGREEMENTS = "/api/v1/agreements"
EN = {"Accept-Language": "en"}


def start(days: int = 7) -> str:
    return (china_today() + timedelta(days=days)).isoformat()


def h(party) -> dict:
    return {**party.headers, **EN}


def request_body(outlet_id, tonnes=40, **extra) -> dict:
    return {"outlet_id": outlet_id, "tonnes_per_year": tonnes, "start_date": start(),
            "term_months": 12, "form": "co_built", **extra}


def create(client, maker, outlet_id, tonnes=40, **extra):
    return client.post(REQUESTS, json=request_body(outlet_id, tonnes, **extra), headers=h(maker))


def created(client, maker, outlet_id, tonnes=40, **extra) -> dict:
    response = create(client, maker, outlet_id, tonnes, **extra)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def step(client, party, request_id, action, body=None):
    return client.post(f"{REQUESTS}/{request_id}/{action}", json=body or {}, headers=h(party))


def sign(client, party, agreement_id, sha, password=PASSWORD, **headers):
    return client.post(f"{AGREEMENTS}/{agreement_id}/signatures",
                       json={"password": password, "document_sha256": sha},
                       headers={**h(party), **headers})


def accepted_agreement(client, maker, provider, outlet_id, tonnes=40) -> dict:
    request = created(client, maker, outlet_id, tonnes)
    response = step(client, provider, request["id"], "accept")
    assert response.status_code == 200, response.get_json()
    return client.get(f"{AGREEMENTS}/{response.get_json()['agreement_id']}",
                      headers=h(maker)).get_json()


def test_request_counter_accept_counter_both_sign_active(client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request = created(client, maker, outlet_id)
    assert request["status"] == "requested" and request["waiting_on"] == "provider"
    assert request["your_side"] == "manufacturer" and request["actions"] == ["withdraw"]
    assert request["respond_by"] and request["agreement_id"] is None
    assert (request["annual_fee_fen"], request["handling_fee_fen_per_t"]) == (1_200_000, 30_000)

    seen = client.get(f"{REQUESTS}/{request['id']}", headers=h(provider)).get_json()
    assert sorted(seen["actions"]) == ["accept", "counter", "decline"]
    received = client.get(REQUESTS, query_string={"role": "provider"}, headers=h(provider))
    assert [r["id"] for r in received.get_json()["items"]] == [request["id"]]
    assert (received.get_json()["total"], received.get_json()["per_page"]) == (1, 50)
    assert client.get(REQUESTS, query_string={"page": 2}, headers=h(provider)).get_json()["items"] == []
    assert client.get(REQUESTS, query_string={"role": "manufacturer"},
                      headers=h(provider)).get_json()["items"] == []

    countered = step(client, provider, request["id"], "counter",
                     {"tonnes_per_year": 30, "annual_fee_fen": 1_500_000, "message": "30 t only"})
    assert countered.status_code == 200, countered.get_json()
    countered = countered.get_json()
    assert countered["status"] == "countered" and countered["tonnes_per_year"] == 30
    assert countered["waiting_on"] == "manufacturer"
    assert countered["annual_fee_fen"] == 1_500_000

    refused = step(client, provider, request["id"], "accept")
    assert refused.status_code == 409
    assert "Countered" in refused.get_json()["error"]["message"]

    done = step(client, maker, request["id"], "accept-counter")
    assert done.status_code == 200, done.get_json()
    done = done.get_json()
    assert done["status"] == "accepted" and done["actions"] == [] and done["respond_by"] is None
    agreement_id = done["agreement_id"]
    assert agreement_id and done["allocation_id"]

    agreement = client.get(f"{AGREEMENTS}/{agreement_id}", headers=h(maker)).get_json()
    assert agreement["status"] == "pending_signatures" and agreement["number"].startswith("OP-AG-")
    assert agreement["your_signature_due"] is True
    assert {p["organization_id"] for p in agreement["awaiting"]} == {
        maker.organization_id, provider.organization_id}
    assert agreement["document"]["allocations"][0]["tonnes_per_year"] == 30
    assert agreement["integrity_problems"] == []
    assert [a["lifecycle"] for a in agreement["allocations"]] == ["pending"]
    sha = agreement["document_sha256"]

    wrong = sign(client, maker, agreement_id, sha, password="not my password")
    assert wrong.status_code == 422 and "password" in wrong.get_json()["error"]["fields"]
    first = sign(client, maker, agreement_id, sha)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["version_status"] == "pending"
    again = sign(client, maker, agreement_id, sha)
    assert again.status_code == 409  # already signed for this organization
    second = sign(client, provider, agreement_id, sha)
    assert second.status_code == 201, second.get_json()
    assert second.get_json()["version_status"] == "in_force"
    assert second.get_json()["agreement_status"] == "active"

    agreement = client.get(f"{AGREEMENTS}/{agreement_id}", headers=h(provider)).get_json()
    assert agreement["status"] == "active" and agreement["awaiting"] == []
    assert agreement["your_signature_due"] is False
    assert [a["lifecycle"] for a in agreement["allocations"]] == ["active"]
    assert {s["organization_id"] for s in agreement["signed"]} == {
        maker.organization_id, provider.organization_id}

    version = client.get(f"{AGREEMENTS}/{agreement_id}/versions/1", headers=h(maker)).get_json()
    assert version["status"] == "in_force" and version["document_sha256"] == sha
    assert all(s["document_sha256"] == sha and s["ip_address"] and s["signer"]
               for s in version["signatures"])
    assert len(version["signatures"]) == 2
    assert client.get(f"{AGREEMENTS}/{agreement_id}/versions/2",
                      headers=h(maker)).status_code == 404

    listed = client.get(AGREEMENTS, query_string={"status": "active"}, headers=h(maker))
    assert [a["id"] for a in listed.get_json()["items"]] == [agreement_id]
    assert listed.get_json()["total"] == 1
    assert client.get(AGREEMENTS, query_string={"per_page": 201}, headers=h(maker)).status_code == 422
    assert client.get(AGREEMENTS, query_string={"status": "lapsed"},
                      headers=h(maker)).get_json()["items"] == []


def test_decline_needs_a_reason_and_closes_the_request(client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request = created(client, maker, outlet_id)
    missing = step(client, provider, request["id"], "decline", {})
    assert missing.status_code == 422 and "reason" in missing.get_json()["error"]["fields"]
    declined = step(client, provider, request["id"], "decline", {"reason": "full this year"})
    assert declined.status_code == 200
    assert declined.get_json()["status"] == "declined"
    assert declined.get_json()["reason"] == "full this year"
    seen = client.get(f"{REQUESTS}/{request['id']}", headers=h(maker)).get_json()
    assert seen["status"] == "declined" and seen["actions"] == []
    late = step(client, maker, request["id"], "withdraw")
    assert late.status_code == 409 and "Declined" in late.get_json()["error"]["message"]
    assert client.get(REQUESTS, query_string={"status": "declined"},
                      headers=h(maker)).get_json()["items"][0]["id"] == request["id"]


def test_withdraw_then_nothing_more(client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request = created(client, maker, outlet_id)
    assert step(client, provider, request["id"], "withdraw").status_code == 403
    withdrawn = step(client, maker, request["id"], "withdraw", {"reason": "found another"})
    assert withdrawn.status_code == 200 and withdrawn.get_json()["status"] == "withdrawn"
    refused = step(client, provider, request["id"], "accept")
    assert refused.status_code == 409
    assert refused.get_json()["error"]["message"]
    # the outlet is free for a new request from the same maker
    assert create(client, maker, outlet_id).status_code == 201


def test_operator_cancels_with_a_reason(client, shared_outlet, make_party, operator):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request = created(client, maker, outlet_id)
    assert step(client, provider, request["id"], "cancel", {"reason": "x"}).status_code == 403
    assert step(client, operator, request["id"], "cancel", {}).status_code == 422
    seen = client.get(f"{REQUESTS}/{request['id']}", headers=h(operator)).get_json()
    assert seen["your_side"] == "operator" and seen["actions"] == ["cancel"]
    cancelled = step(client, operator, request["id"], "cancel", {"reason": "duplicate listing"})
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert step(client, operator, request["id"], "cancel", {"reason": "again"}).status_code == 409


def test_other_organizations_get_404_and_providers_cannot_request(client, shared_outlet,
                                                                  make_party):
    outlet_id, provider = shared_outlet
    maker, stranger = make_party("manufacturer"), make_party("manufacturer")
    other_provider = make_party("provider")
    request = created(client, maker, outlet_id)
    for party in (stranger, other_provider):
        assert client.get(f"{REQUESTS}/{request['id']}", headers=h(party)).status_code == 404
        assert step(client, party, request["id"], "accept").status_code == 404
        assert client.get(REQUESTS, headers=h(party)).get_json()["items"] == []
    agreement = accepted_agreement(client, make_party("manufacturer"), provider, outlet_id, 20)
    for path in ("", "/versions/1", "/versions/1/pdf"):
        assert client.get(f"{AGREEMENTS}/{agreement['id']}{path}",
                          headers=h(stranger)).status_code == 404
    assert sign(client, stranger, agreement["id"], agreement["document_sha256"]).status_code == 404
    assert client.get(AGREEMENTS, headers=h(stranger)).get_json()["items"] == []

    refused = create(client, provider, outlet_id)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "forbidden"
    assert client.post(REQUESTS, json={}).status_code == 401


@pytest.mark.parametrize(("change", "field"), [
    ({"tonnes_per_year": -5}, "tonnes_per_year"),
    ({"tonnes_per_year": 500}, "tonnes_per_year"),  # more than the offer
    ({"tonnes_per_year": "lots"}, "tonnes_per_year"),
    ({"start_date": "2020-01-01"}, "start_date"),
    ({"start_date": "31/12/2026"}, "start_date"),
    ({"form": "leasing"}, "form"),
    ({"term_months": 6}, "term_months"),  # below the offer's 12-month minimum
    ({"term_months": "twelve"}, "term_months"),
    ({"outlet_id": "abc"}, "outlet_id"),
    ({"outlet_id": 999999}, "outlet_id"),
    ({"colour": "green"}, "colour"),  # unknown field
])
def test_bad_input_is_422_naming_the_field(client, shared_outlet, make_party, change, field):
    outlet_id, _provider = shared_outlet
    maker = make_party("manufacturer")
    response = client.post(REQUESTS, json={**request_body(outlet_id), **change}, headers=h(maker))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"], response.get_json()


def test_counter_input_is_checked(client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    request = created(client, make_party("manufacturer"), outlet_id)
    for body, field in (({"annual_fee_fen": "cheap"}, "annual_fee_fen"),
                        ({"tonnes_per_year": 0}, "tonnes_per_year"),
                        ({"surprise": 1}, "surprise"),
                        ({}, "tonnes_per_year")):  # nothing changed
        response = step(client, provider, request["id"], "counter", body)
        assert response.status_code == 422, (body, response.get_json())
        assert field in response.get_json()["error"]["fields"]


def test_a_stale_document_hash_is_refused_after_a_second_maker_joined(client, shared_outlet,
                                                                      make_party):
    outlet_id, provider = shared_outlet
    first, second = make_party("manufacturer"), make_party("manufacturer")
    agreement = accepted_agreement(client, first, provider, outlet_id, 40)
    stale = agreement["document_sha256"]
    joined = step(client, provider, created(client, second, outlet_id, 30)["id"], "accept")
    assert joined.get_json()["agreement_id"] == agreement["id"]

    refused = sign(client, first, agreement["id"], stale)
    assert refused.status_code == 409
    assert "document_sha256" in refused.get_json()["error"]["fields"]
    now = client.get(f"{AGREEMENTS}/{agreement['id']}", headers=h(first)).get_json()
    assert now["version"] == 2 and now["document_sha256"] != stale
    assert [v["status"] for v in now["versions"]] == ["replaced", "pending"]
    assert len(now["parties"]) == 3
    for party in (first, second, provider):
        assert sign(client, party, agreement["id"], now["document_sha256"]).status_code == 201
    assert client.get(f"{AGREEMENTS}/{agreement['id']}",
                      headers=h(second)).get_json()["status"] == "active"


def test_pdf_in_both_languages(client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    agreement = accepted_agreement(client, maker, provider, outlet_id)
    for lang in ("zh", "en"):
        response = client.get(f"{AGREEMENTS}/{agreement['id']}/versions/1/pdf",
                              query_string={"lang": lang}, headers=h(provider))
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")
        disposition = response.headers["Content-Disposition"]
        assert agreement["number"] in disposition and "-v1" in disposition
    assert client.get(f"{AGREEMENTS}/{agreement['id']}/versions/1/pdf",
                      query_string={"lang": "fr"}, headers=h(provider)).status_code == 422


def test_obligation_met_once_active_and_pool_capacity_drops_at_acceptance(
        client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    response = client.put("/api/v1/manufacturers/me/sales", headers=h(maker), json={"records": [
        {"division": "440300", "year": 2025, "sales": 800, "parc": 100}]})
    assert response.status_code == 200, response.get_json()

    def pool_capacity():
        items = client.get("/api/v1/outlets", query_string={"city": "440300"}).get_json()["items"]
        return next(i["available_capacity_t"] for i in items if i["id"] == outlet_id)

    def shenzhen(as_of):
        report = client.get("/api/v1/manufacturers/me/obligations",
                            query_string={"as_of": as_of}, headers=h(maker)).get_json()
        return next(c for c in report["cities"] if c["division"] == "440300")

    as_of = start(8)
    before = shenzhen(as_of)
    assert before["required"] == ["collection"] and before["status"] == "uncovered"
    assert before["met_by"] == []
    assert pool_capacity() == 100

    request = created(client, maker, outlet_id, 40)
    assert pool_capacity() == 100  # a request holds nothing yet
    accepted = step(client, provider, request["id"], "accept").get_json()
    assert pool_capacity() == 60  # at once, before anyone signs
    assert shenzhen(as_of)["status"] == "uncovered"  # not signed yet

    sha = client.get(f"{AGREEMENTS}/{accepted['agreement_id']}",
                     headers=h(maker)).get_json()["document_sha256"]
    for party in (maker, provider):
        assert sign(client, party, accepted["agreement_id"], sha).status_code == 201
    after = shenzhen(as_of)
    assert after["status"] == "covered"
    assert [m["outlet_id"] for m in after["met_by"]] == [outlet_id]
    assert shenzhen(start(3))["status"] == "uncovered"  # before the allocation starts


def test_notice_renewal_window_and_operator_termination(client, shared_outlet, make_party,
                                                        operator):
    outlet_id, provider = shared_outlet
    maker, other = make_party("manufacturer"), make_party("manufacturer")
    agreement = accepted_agreement(client, maker, provider, outlet_id, 40)
    for party in (maker, provider):
        assert sign(client, party, agreement["id"], agreement["document_sha256"]).status_code == 201
    allocation_id = agreement["allocations"][0]["id"]

    early = client.post(f"/api/v1/allocations/{allocation_id}/renewal", headers=h(maker))
    assert early.status_code == 409 and "Renewal opens" in early.get_json()["error"]["message"]
    assert client.post(f"/api/v1/allocations/{allocation_id}/notice", json={},
                       headers=h(other)).status_code == 404
    notice = client.post(f"/api/v1/allocations/{allocation_id}/notice",
                         json={"reason": "network change"}, headers=h(maker))
    assert notice.status_code == 200, notice.get_json()
    assert notice.get_json()["lifecycle"] == "notice_given"
    assert client.post(f"/api/v1/allocations/{allocation_id}/notice", json={},
                       headers=h(provider)).status_code == 409

    termination = f"{AGREEMENTS}/{agreement['id']}/termination"
    assert client.post(termination, json={"reason": "x"}, headers=h(provider)).status_code == 403
    assert client.post(termination, json={}, headers=h(operator)).status_code == 422
    ended = client.post(termination, json={"reason": "outlet closed"}, headers=h(operator))
    assert ended.status_code == 200, ended.get_json()
    assert ended.get_json()["status"] == "ended"
    assert [a["lifecycle"] for a in ended.get_json()["allocations"]] == ["terminated"]
    items = client.get("/api/v1/outlets", query_string={"city": "440300"}).get_json()["items"]
    assert next(i for i in items if i["id"] == outlet_id)["available_capacity_t"] == 100


def test_a_saved_plan_becomes_requests_in_one_action(client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    client.put("/api/v1/manufacturers/me/sales", headers=h(maker), json={"records": [
        {"division": "440300", "year": 2025, "sales": 800, "parc": 100}]})
    plan = client.post("/api/v1/manufacturers/me/coverage-plans", headers=h(maker),
                       json={"as_of": start(0)})
    assert plan.status_code == 201, plan.get_json()
    plan = plan.get_json()
    assert [o["id"] for o in plan["result"]["outlets"]] == [outlet_id]
    path = f"/api/v1/manufacturers/me/coverage-plans/{plan['id']}/requests"

    stranger = make_party("manufacturer")
    assert client.post(path, json={}, headers=h(stranger)).status_code == 404
    assert client.post(path, json={"form": "lease"}, headers=h(maker)).status_code == 422

    response = client.post(path, json={"start_date": start(10), "message": "from our plan"},
                           headers=h(maker))
    assert response.status_code == 201, response.get_json()
    items = response.get_json()["items"]
    assert len(items) == 1
    made = items[0]
    assert made["outlet_id"] == outlet_id and made["coverage_plan_id"] == plan["id"]
    assert made["term_months"] == 12 and made["start_date"] == start(10)
    assert made["tonnes_per_year"] >= 1 and made["status"] == "requested"
    assert client.get(REQUESTS, query_string={"role": "provider"},
                      headers=h(provider)).get_json()["items"][0]["id"] == made["id"]

    again = client.post(path, json={}, headers=h(maker))
    assert again.status_code == 409  # the open request is in the way; nothing sent
    assert any(f"#{outlet_id}" in m[0] for m in again.get_json()["error"]["fields"].values())
    assert len(client.get(REQUESTS, headers=h(maker)).get_json()["items"]) == 1


def test_contracting_endpoints_are_in_the_openapi(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    for path in ("/api/v1/capacity-requests", "/api/v1/capacity-requests/{request_id}/counter",
                 "/api/v1/agreements/{agreement_id}/signatures",
                 "/api/v1/manufacturers/me/coverage-plans/{plan_id}/requests",
                 "/api/v1/allocations/{allocation_id}/notice"):
        assert path in paths, path
    create_op = paths["/api/v1/capacity-requests"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create_op["parameters"]}
    assert "201" in create_op["responses"]
