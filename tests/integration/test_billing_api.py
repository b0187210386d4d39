"""The billing API end to end: invoices (JSON, PDF), recording a transfer, the statement,
cost pools, and that another organization sees none of it (404, the error shape)."""

from __future__ import annotations

from tests.integration.test_billing import _one_invoice


def test_invoice_api_transfer_statement_and_scoping(app, shared_outlet, make_party):
    from app.extensions import db

    with app.app_context():
        invoice, provider, maker = _one_invoice(shared_outlet, make_party)
        invoice_id, gross, agreement_id = invoice.id, invoice.gross_fen, invoice.agreement_id
        db.session.remove()
    client = app.test_client()

    listed = client.get("/api/v1/invoices", headers=maker.headers).get_json()
    assert [i["id"] for i in listed["items"]] == [invoice_id]
    assert (listed["total"], listed["page"], listed["per_page"]) == (1, 1, 50)
    mine = {"organization_id": maker.organization_id}
    assert client.get("/api/v1/invoices", query_string={**mine, "role": "received"},
                      headers=maker.headers).get_json()["total"] == 1
    assert client.get("/api/v1/invoices", query_string={**mine, "role": "issued"},
                      headers=maker.headers).get_json()["total"] == 0
    assert client.get("/api/v1/invoices", query_string={"page": 2},
                      headers=maker.headers).get_json()["items"] == []
    for params in ({"role": "owed"}, {"role": "issued"}):  # an unknown role; a role for no organization
        refused = client.get("/api/v1/invoices", query_string=params, headers=maker.headers)
        assert refused.status_code in (400, 422) and "role" in refused.get_json()["error"]["fields"]
    body = client.get(f"/api/v1/invoices/{invoice_id}", headers=provider.headers).get_json()
    assert body["gross_fen"] == body["net_fen"] + body["tax_fen"] and body["pay_with"] == ["bank_transfer"]
    assert body["bank_transfer"]["reference"] == body["payment_reference"]
    pdf = client.get(f"/api/v1/invoices/{invoice_id}/pdf?lang=en", headers=maker.headers)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    stranger = make_party("manufacturer")
    missing = client.get(f"/api/v1/invoices/{invoice_id}", headers=stranger.headers)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"

    bad = client.post(f"/api/v1/invoices/{invoice_id}/transfers", headers=provider.headers,
                      json={"amount_fen": -5, "received_on": "2026-11-01"})
    assert bad.status_code == 422 and "amount_fen" in bad.get_json()["error"]["fields"]
    ok = client.post(f"/api/v1/invoices/{invoice_id}/transfers", headers=provider.headers,
                     json={"amount_fen": gross, "received_on": "2026-11-01", "reference": "x"})
    assert ok.status_code == 201 and ok.get_json()["outcome"] == "exact"

    statement = client.get(f"/api/v1/organizations/{maker.organization_id}/ledger",
                           headers=maker.headers).get_json()
    assert statement["balance_fen"] == 0 and sorted(line["kind"] for line in statement["lines"]) == [
        "invoice", "payment"]
    payment = next(line for line in statement["lines"] if line["kind"] == "payment")
    assert (payment["invoice_number"], payment["payment_method"], payment["detail"]) == (
        body["number"], "bank_transfer", "x")
    assert client.get(f"/api/v1/organizations/{maker.organization_id}/ledger",
                      headers=stranger.headers).status_code == 404

    pools = client.get(f"/api/v1/agreements/{agreement_id}/cost-pools", headers=maker.headers).get_json()
    assert pools["proposed"] == [] and pools["billing_period"] == "quarterly"
    created = client.post(f"/api/v1/agreements/{agreement_id}/cost-pools", headers=provider.headers,
                          json={"name": "Brine tank", "kind": "one_off", "rule": "equal",
                                "lines": [{"description": "Brine tank", "amount_fen": 100_001,
                                           "checklist_item": 12}]})
    assert created.status_code == 201
    assert [s["share_fen"] for s in created.get_json()["proposed"][0]["shares"]] == [100_001]
    pool_id = created.get_json()["proposed"][0]["id"]
    renamed = client.patch(f"/api/v1/agreements/{agreement_id}/cost-pools/{pool_id}",
                           headers=provider.headers, json={"name": "Brine tank and pump"})
    assert renamed.status_code == 200, renamed.get_json()  # a PATCH may send one field
    pool = renamed.get_json()["proposed"][0]
    assert pool["name"] == "Brine tank and pump" and pool["shares"][0]["share_fen"] == 100_001
