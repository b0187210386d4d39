"""Contracting through the pages, as the two sides and an operator click through them: a
request from the outlet page, a counter in yuan, acceptance, signing (wrong password, stale
text), the agreement in force; decline reasons, other organizations kept out, operator
moderation, and requests sent from a coverage plan."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from services.certifiers import china_today
from tests.integration.conftest import PASSWORD, form_post, login

TODAY = china_today()


def client_for(app, party):
    """A browser of its own, signed in, reading English."""
    client = app.test_client()
    response = login(client, party.email)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    client.get("/lang/en")
    return client


def request_terms(**overrides) -> dict:
    return {"tonnes_per_year": "40", "start_date": TODAY.isoformat(), "term_months": "12",
            "form": "co_built", "message": "Shenzhen coverage for 2027", **overrides}


def send_request(client, outlet_id, **overrides) -> int:
    response = form_post(client, f"/contracts/outlets/{outlet_id}/request",
                         request_terms(**overrides), page_path=f"/outlets/{outlet_id}")
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    match = re.search(r"/contracts/requests/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def flashes(client, path) -> str:
    return text_of(client.get(path))


def stored_request(app, request_id):
    from app.extensions import db
    from app.models import CapacityRequest

    with app.app_context():
        row = db.session.get(CapacityRequest, request_id)
        db.session.expunge(row)
        return row


def agreement_of(app, request_id) -> int:
    from app.extensions import db
    from app.models import Allocation

    with app.app_context():
        return db.session.execute(db.select(Allocation.agreement_id)
                                  .where(Allocation.request_id == request_id)).scalar_one()


def pending_sha(app, agreement_id) -> str:
    from app.extensions import db
    from app.models import Agreement
    from services import agreements

    with app.app_context():
        return agreements.pending_version(db.session.get(Agreement, agreement_id)).document_sha256


def sign(client, agreement_id, sha, password=PASSWORD):
    path = f"/contracts/agreements/{agreement_id}"
    return form_post(client, f"{path}/sign",
                     {"sign-password": password, "sign-document_sha256": sha}, page_path=path)


@pytest.fixture
def sides(app, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    return outlet_id, client_for(app, maker), client_for(app, provider), maker, provider


def test_the_outlet_page_reads_no_contracts_once_kept_and_follows_each_change(app, sides, statements):
    outlet_id, maker_client, provider_client, _maker, _provider = sides
    path = f"/outlets/{outlet_id}"
    maker_client.get(path)
    statements.clear()
    assert 'data-testid="request-form"' in text_of(maker_client.get(path))
    assert not [s for s in statements if "capacity_requests" in s or "allocations" in s]

    request_id = send_request(maker_client, outlet_id)
    assert 'data-testid="open-request"' in text_of(maker_client.get(path))
    detail = f"/contracts/requests/{request_id}"
    form_post(provider_client, f"{detail}/decline", {"reason-reason": "Full"}, page_path=detail)
    assert stored_request(app, request_id).status.value == "declined"
    assert 'data-testid="request-form"' in text_of(maker_client.get(path))


def test_request_counter_accept_sign_until_active(app, sides):
    from app.extensions import db
    from app.models import Agreement
    from services import sales
    from services.audit import Actor

    outlet_id, maker_client, provider_client, maker, _provider = sides

    # The outlet page offers the form, with the offer's prices and the free capacity.
    page = text_of(maker_client.get(f"/outlets/{outlet_id}"))
    assert 'data-testid="request-form"' in page
    assert re.search(r'data-testid="capacity-left"[^>]*>Free now: 100 of 100 t/year', page)
    term = re.search(r'<input[^>]*name="term_months"[^>]*>', page).group(0)
    assert 'type="number"' in term and 'value="12"' in term  # the offer's minimum term

    # Too much is refused on the form, field by field; nothing is stored.
    refused = form_post(maker_client, f"/contracts/outlets/{outlet_id}/request",
                        request_terms(tonnes_per_year="500"), page_path=f"/outlets/{outlet_id}")
    assert refused.status_code == 422
    assert 'data-field="tonnes_per_year"' in text_of(refused)

    request_id = send_request(maker_client, outlet_id)
    mine = text_of(maker_client.get("/contracts/requests"))
    assert "My capacity requests" in mine and f'data-request-id="{request_id}"' in mine
    assert 'data-status="requested"' in mine
    # The outlet page now points at the open request instead of offering a second one.
    assert 'data-testid="open-request"' in text_of(maker_client.get(f"/outlets/{outlet_id}"))

    # The provider sees it received, waiting on them, and counters in yuan.
    received = text_of(provider_client.get("/contracts/requests"))
    assert "Capacity requests received" in received and 'data-testid="your-move"' in received
    detail = f"/contracts/requests/{request_id}"
    answer = text_of(provider_client.get(detail))
    assert 'data-testid="provider-answer"' in answer
    assert 'data-testid="accept">Accept<' in answer
    bad = form_post(provider_client, f"{detail}/counter",
                    {"counter-tonnes_per_year": "30", "counter-annual_fee_yuan": "15000.505"},
                    page_path=detail)
    assert bad.status_code == 422
    assert 'data-field="counter-annual_fee_yuan"' in text_of(bad)
    countered = form_post(provider_client, f"{detail}/counter", {
        "counter-tonnes_per_year": "30", "counter-annual_fee_yuan": "15,000.50",
        "counter-handling_fee_yuan_per_t": "300.00", "counter-start_date": TODAY.isoformat(),
        "counter-term_months": "12", "counter-message": "30 t is what we can spare"},
        page_path=detail)
    assert countered.status_code == 302, text_of(countered)[:3000]
    stored = stored_request(app, request_id)
    assert stored.status.value == "countered"
    assert stored.annual_fee_fen == 1_500_050 and stored.tonnes_per_year == 30
    assert stored.handling_fee_fen_per_t == 30_000

    # The maker reads the negotiation and accepts the counter.
    page = text_of(maker_client.get(detail))
    assert 'data-event="request"' in page and 'data-event="counter"' in page
    assert "30 t is what we can spare" in page
    assert 'data-testid="accept-counter"' in page and 'data-testid="provider-answer"' not in page
    accepted = form_post(maker_client, f"{detail}/accept-counter", {}, page_path=detail)
    assert accepted.status_code == 302
    agreement_id = agreement_of(app, request_id)
    assert accepted.headers["Location"].endswith(f"/contracts/agreements/{agreement_id}")

    path = f"/contracts/agreements/{agreement_id}"
    page = text_of(maker_client.get(path))
    assert 'data-status="pending_signatures"' in page and 'data-testid="sign-form"' in page
    sha = pending_sha(app, agreement_id)
    assert f'value="{sha}"' in page  # the hidden field holds the hash of the text shown

    wrong = sign(maker_client, agreement_id, sha, password="not my password")
    assert wrong.status_code == 422
    assert "Re-enter your password to sign." in text_of(wrong)
    assert 'data-field="sign-password"' in text_of(wrong)
    stale = sign(maker_client, agreement_id, "0" * 64)
    assert stale.status_code == 302
    assert "has changed" in flashes(maker_client, path)

    assert sign(maker_client, agreement_id, sha).status_code == 302
    page = flashes(maker_client, path)
    assert "comes into force when every party has signed" in page
    assert 'data-testid="sign-form"' not in page  # signed once for the organization
    assert sign(provider_client, agreement_id, sha).status_code == 302
    page = flashes(provider_client, path)
    assert "the agreement is in force" in page
    assert 'data-status="active"' in page and 'data-state="active"' in page
    with app.app_context():
        assert db.session.get(Agreement, agreement_id).status.value == "active"

    # The version page: the full text, responsibilities, signatures with hash and address.
    version = text_of(maker_client.get(f"{path}/versions/1"))
    assert sha in version and 'data-testid="responsibilities"' in version
    assert version.count('data-testid="signature-row"') == 2 and "127.0.0.1" in version
    assert "Source:" in version
    for lang in ("zh", "en"):
        pdf = maker_client.get(f"{path}/versions/1.pdf?lang={lang}")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        assert pdf.data.startswith(b"%PDF") and f"-v1-{lang}.pdf" in pdf.headers["Content-Disposition"]

    # The outlet page now says what the maker holds instead of offering another request.
    outlet_page = text_of(maker_client.get(f"/outlets/{outlet_id}"))
    assert 'data-testid="held-allocation"' in outlet_page and 'data-testid="request-form"' not in outlet_page

    # Both sides list it; the maker's obligations page names the contract meeting Shenzhen.
    for client in (maker_client, provider_client):
        assert f'data-agreement-id="{agreement_id}"' in text_of(client.get("/contracts/agreements"))
    with app.app_context():
        from app.models import Organization, User

        sales.record_one(Actor(user=db.session.get(User, maker.user_id)),
                         db.session.get(Organization, maker.organization_id),
                         {"division": "440300", "year": TODAY.year, "sales": 1200, "parc": 9000})
        db.session.commit()
        number = db.session.get(Agreement, agreement_id).number
    # (as_of given: the page's own default is the server's date, not China's)
    obligations = text_of(maker_client.get(f"/obligations?as_of={TODAY.isoformat()}"))
    met_by = obligations.split('data-testid="met-by"', 1)[1].split("</td>", 1)[0]
    assert "宝安共享网点" in met_by and number in met_by and "30 t/year" in met_by


def test_decline_needs_a_reason_and_withdraw_closes(app, sides):
    outlet_id, maker_client, provider_client, _maker, _provider = sides
    request_id = send_request(maker_client, outlet_id)
    detail = f"/contracts/requests/{request_id}"
    blank = form_post(provider_client, f"{detail}/decline", {"reason-reason": "  "},
                      page_path=detail)
    assert blank.status_code == 422
    assert 'data-field="reason"' in text_of(blank)
    assert stored_request(app, request_id).status.value == "requested"
    declined = form_post(provider_client, f"{detail}/decline",
                         {"reason-reason": "Full until the new hall opens"}, page_path=detail)
    assert declined.status_code == 302
    page = text_of(maker_client.get(detail))
    assert 'data-status="declined"' in page and "Full until the new hall opens" in page
    # A closed request offers nothing more; a late answer is a conflict, not a crash.
    assert 'data-testid="provider-answer"' not in text_of(provider_client.get(detail))
    late = form_post(provider_client, f"{detail}/accept", {}, page_path=detail)
    assert late.status_code == 302 and "Not possible while" in flashes(provider_client, detail)

    # Withdrawing a new request straight from the list (the reason is optional).
    second = send_request(maker_client, outlet_id)
    listing = text_of(maker_client.get("/contracts/requests"))
    row = listing.split(f'data-request-id="{second}"', 1)[1].split("</tr>", 1)[0]
    assert 'data-testid="row-withdraw"' in row and 'data-testid="your-move"' not in row
    assert form_post(maker_client, f"/contracts/requests/{second}/withdraw", {},
                     page_path="/contracts/requests").status_code == 302
    assert stored_request(app, second).status.value == "withdrawn"


def test_another_organization_sees_nothing(app, sides, make_party):
    outlet_id, maker_client, provider_client, _maker, _provider = sides
    request_id = send_request(maker_client, outlet_id)
    detail = f"/contracts/requests/{request_id}"
    form_post(provider_client, f"{detail}/accept", {}, page_path=detail)
    agreement_id = agreement_of(app, request_id)

    stranger = client_for(app, make_party("manufacturer"))
    for path in (detail, f"/contracts/agreements/{agreement_id}",
                 f"/contracts/agreements/{agreement_id}/versions/1",
                 f"/contracts/agreements/{agreement_id}/versions/1.pdf?lang=en"):
        assert stranger.get(path).status_code == 404, path
    assert f'data-request-id="{request_id}"' not in text_of(stranger.get("/contracts/requests"))
    assert 'data-testid="agreement-row"' not in text_of(stranger.get("/contracts/agreements"))
    # Acting on it is as impossible as seeing it.
    token_page = "/contracts/requests"
    assert form_post(stranger, f"{detail}/withdraw", {}, page_path=token_page).status_code == 404
    assert form_post(stranger, f"/contracts/agreements/{agreement_id}/sign",
                     {"sign-password": PASSWORD, "sign-document_sha256": "x"},
                     page_path=token_page).status_code == 404
    # A provider cannot request capacity; an unknown request is a 404, not a 500.
    assert provider_client.get(f"/contracts/outlets/{outlet_id}/request").status_code == 403
    assert maker_client.get("/contracts/requests/999999").status_code == 404
    assert maker_client.get("/contracts/requests?status=bogus").status_code == 422


def test_operator_sees_all_cancels_and_terminates(app, sides, make_party, operator):
    from app.extensions import db
    from app.models import Agreement

    outlet_id, maker_client, provider_client, _maker, _provider = sides
    other_client = client_for(app, make_party("manufacturer"))
    first = send_request(maker_client, outlet_id, tonnes_per_year="20")
    second = send_request(other_client, outlet_id, tonnes_per_year="10")
    op = client_for(app, operator)

    listing = text_of(op.get("/contracts/requests"))
    assert "All capacity requests" in listing
    assert f'data-request-id="{first}"' in listing and f'data-request-id="{second}"' in listing

    path = f"/contracts/requests/{second}"
    assert 'data-testid="cancel"' in text_of(op.get(path))
    blank = form_post(op, f"{path}/cancel", {"reason-reason": ""}, page_path=path)
    assert blank.status_code == 422
    assert form_post(op, f"{path}/cancel", {"reason-reason": "Duplicate of a group request"},
                     page_path=path).status_code == 302
    assert stored_request(app, second).status.value == "cancelled"
    assert "Duplicate of a group request" in text_of(other_client.get(path))

    detail = f"/contracts/requests/{first}"
    form_post(provider_client, f"{detail}/accept", {}, page_path=detail)
    agreement_id = agreement_of(app, first)
    agreement_path = f"/contracts/agreements/{agreement_id}"
    assert f'data-agreement-id="{agreement_id}"' in text_of(op.get("/contracts/agreements"))
    page = text_of(op.get(agreement_path))
    assert 'data-testid="terminate-form"' in page and 'data-testid="sign-form"' not in page
    assert 'data-testid="terminate-form"' not in text_of(maker_client.get(agreement_path))
    blank = form_post(op, f"{agreement_path}/terminate", {"terminate-reason": ""},
                      page_path=agreement_path)
    assert blank.status_code == 422 and 'data-field="terminate-reason"' in text_of(blank)
    done = form_post(op, f"{agreement_path}/terminate",
                     {"terminate-reason": "Outlet closed by the authorities",
                      "terminate-allocation_id": ""}, page_path=agreement_path)
    assert done.status_code == 302
    with app.app_context():
        agreement = db.session.get(Agreement, agreement_id)
        assert agreement.status.value == "lapsed"  # never signed: the allocation lapses
        assert agreement.allocations[0].end_reason == "Outlet closed by the authorities"
    # Members of the parties cannot terminate.
    assert form_post(maker_client, f"{agreement_path}/terminate", {"terminate-reason": "x"},
                     page_path=agreement_path).status_code == 403


def test_notice_and_renewal_on_an_active_allocation(app, sides, monkeypatch):
    from app.extensions import db
    from app.models import Allocation

    outlet_id, maker_client, provider_client, _maker, _provider = sides
    request_id = send_request(maker_client, outlet_id)
    detail = f"/contracts/requests/{request_id}"
    form_post(provider_client, f"{detail}/accept", {}, page_path=detail)
    agreement_id = agreement_of(app, request_id)
    path = f"/contracts/agreements/{agreement_id}"
    sha = pending_sha(app, agreement_id)
    for client in (maker_client, provider_client):
        assert sign(client, agreement_id, sha).status_code == 302
    with app.app_context():
        allocation_id = db.session.execute(db.select(Allocation.id).where(
            Allocation.request_id == request_id)).scalar_one()

    page = text_of(maker_client.get(path))
    assert 'data-testid="renew"' not in page  # outside the renewal window
    monkeypatch.setitem(app.config, "AGREEMENT_RENEWAL_WINDOW_DAYS", 400)
    page = text_of(maker_client.get(path))
    assert 'data-state="renewal_window"' in page and 'data-testid="renew"' in page
    renewed = form_post(maker_client, f"{path}/allocations/{allocation_id}/renew", {},
                        page_path=path)
    assert renewed.status_code == 302
    page = flashes(maker_client, path)
    assert "Renewal proposed: version 2" in page and 'data-testid="renewal-pending"' in page
    assert 'data-version="2"' in page

    too_long = form_post(provider_client, f"{path}/allocations/{allocation_id}/notice",
                         {"notice-reason": "x" * 2001}, page_path=path)
    assert too_long.status_code == 302
    assert "2000" in flashes(provider_client, path)
    noticed = form_post(provider_client, f"{path}/allocations/{allocation_id}/notice",
                        {"notice-reason": "Site moves next year"}, page_path=path)
    assert noticed.status_code == 302
    page = flashes(provider_client, path)
    assert "Notice given: the allocation ends on" in page
    assert 'data-state="notice_given"' in page
    again = form_post(provider_client, f"{path}/allocations/{allocation_id}/notice", {},
                      page_path=path)
    assert again.status_code == 302 and "already given" in flashes(provider_client, path)


def test_plan_sends_one_request_per_chosen_outlet(app, sides):
    from app.extensions import db
    from app.models import CapacityRequest, CoveragePlan

    outlet_id, maker_client, _provider_client, maker, _provider = sides
    with app.app_context():
        plan = CoveragePlan(
            manufacturer_id=maker.organization_id, as_of=TODAY, rule_set="test", status="optimal",
            cost_fen=1_500_000, lower_bound_fen=1_500_000, gap=0.0, greedy_cost_fen=1_500_000,
            solve_seconds=0.1, created_at=datetime.now(UTC),
            result={"covered": 1, "demands": 1, "greedy_covered": 1, "assignments": [],
                    "uncoverable": [],
                    "outlets": [{"id": outlet_id, "name": "宝安共享网点", "city": "440300",
                                 "annual_fee_fen": 1_200_000, "tonnes_assigned": 12.34,
                                 "capacity_t": 100.0, "required": False}]})
        db.session.add(plan)
        db.session.commit()
        plan_id = plan.id
    plan_path = f"/coverage-plans/{plan_id}"
    assert 'data-testid="plan-requests-form"' in text_of(maker_client.get(plan_path))

    # A start in the past: nothing is sent, and the outlet is named with what was wrong.
    past = (TODAY - timedelta(days=3)).isoformat()
    refused = form_post(maker_client, f"/contracts/plans/{plan_id}/requests",
                        {"plan-start_date": past, "plan-form": "shared_use"}, page_path=plan_path)
    assert refused.status_code == 409
    errors = text_of(refused).split('data-testid="plan-requests-errors"', 1)[1].split("</article>")[0]
    assert "宝安共享网点" in errors and "start_date" in errors

    sent = form_post(maker_client, f"/contracts/plans/{plan_id}/requests",
                     {"plan-start_date": TODAY.isoformat(), "plan-form": "shared_use"},
                     page_path=plan_path)
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/contracts/requests")
    assert "1 request sent." in flashes(maker_client, "/contracts/requests")
    with app.app_context():
        request = db.session.execute(db.select(CapacityRequest)).scalar_one()
        assert request.coverage_plan_id == plan_id and request.tonnes_per_year == 12.4
        assert request.term_months == 12 and request.form.value == "shared_use"

    # Sending again: the open request is a conflict naming the outlet; nothing more is sent.
    again = form_post(maker_client, f"/contracts/plans/{plan_id}/requests",
                      {"plan-start_date": TODAY.isoformat(), "plan-form": "shared_use"},
                      page_path=plan_path)
    assert again.status_code == 409
    assert "already have an open request" in text_of(again)
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(CapacityRequest.id))).scalar_one() == 1


def test_pages_render_in_chinese(app, sides):
    outlet_id, maker_client, _provider_client, _maker, _provider = sides
    request_id = send_request(maker_client, outlet_id)
    maker_client.get("/lang/zh_CN")
    for path in (f"/outlets/{outlet_id}", "/contracts/requests", f"/contracts/requests/{request_id}",
                 "/contracts/agreements", f"/contracts/outlets/{outlet_id}/request"):
        response = maker_client.get(path)
        assert response.status_code == 200, path
        assert '<html lang="zh-CN"' in text_of(response)
