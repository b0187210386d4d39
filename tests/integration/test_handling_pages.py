"""The handled tonnes page: linked from the agreement, the provider records (field messages on
a bad form), the maker disputes with a reason, the provider corrects and withdraws, and
another organization's reader gets 404."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.conftest import form_post, login
from tests.integration.test_handling_api import live_allocation


def test_handling_page_record_dispute_correct_withdraw(app, shared_outlet, make_party):
    from app.extensions import db
    from app.models import Allocation, HandlingRecord

    allocation_id, provider, maker, today = live_allocation(app, shared_outlet, make_party)
    with app.app_context():
        agreement_id = db.session.get(Allocation, allocation_id).agreement_id
    provider_client, maker_client = app.test_client(), app.test_client()
    login(provider_client, provider.email)
    login(maker_client, maker.email)
    page = f"/billing/allocations/{allocation_id}/handling"
    day = (today - timedelta(days=2)).isoformat()

    agreement_page = maker_client.get(f"/contracts/agreements/{agreement_id}").get_data(as_text=True)
    assert f'href="{page}"' in agreement_page

    bad = form_post(provider_client, page, {"handling-handled_on": day, "handling-tonnes": "1.2345"})
    assert bad.status_code == 422 and 'data-field="handling-tonnes"' in bad.get_data(as_text=True)
    future = form_post(provider_client, page, {"handling-handled_on": (today + timedelta(days=1)).isoformat(),
                                               "handling-tonnes": "1"})
    assert future.status_code == 422 and 'data-field="handling-handled_on"' in future.get_data(as_text=True)
    done = form_post(provider_client, page, {
        "handling-handled_on": day, "handling-tonnes": "4.25", "handling-battery_codes": "CATL-9",
        "handling-notes": "pallet 3"})
    assert done.status_code == 302
    with app.app_context():
        record_id = db.session.execute(db.select(HandlingRecord.id)).scalar_one()

    seen = maker_client.get(page).get_data(as_text=True)
    assert 'data-testid="handling-record-form"' not in seen  # the maker does not record
    assert f'data-record-id="{record_id}" data-state="open_to_dispute"' in seen and "4.25" in seen
    refused = form_post(maker_client, page, {"handling-handled_on": day, "handling-tonnes": "1"})
    assert refused.status_code == 403

    dispute = f"{page}/{record_id}/dispute"
    empty = form_post(maker_client, dispute, {f"dispute{record_id}-reason": ""}, page_path=page)
    assert empty.status_code == 422
    assert f'data-field="dispute{record_id}-reason"' in empty.get_data(as_text=True)
    assert form_post(maker_client, dispute, {f"dispute{record_id}-reason": "Only 4 t arrived"},
                     page_path=page).status_code == 302
    shown = provider_client.get(page).get_data(as_text=True)
    assert 'data-state="disputed"' in shown and "Only 4 t arrived" in shown

    fixed = form_post(provider_client, f"{page}/{record_id}/correct",
                      {f"fix{record_id}-handled_on": day, f"fix{record_id}-tonnes": "4"})
    assert fixed.status_code == 302
    with app.app_context():
        new = db.session.execute(db.select(HandlingRecord).where(
            HandlingRecord.supersedes_id == record_id)).scalar_one()
        new_id, codes = new.id, new.battery_codes
    assert codes is None  # the form sent none: the correction says what it says
    gone = form_post(provider_client, f"{page}/{new_id}/withdraw", {"withdraw-reason": "counted at the gate"})
    assert gone.status_code == 302
    states = provider_client.get(page).get_data(as_text=True)
    assert 'data-state="superseded"' in states and 'data-state="withdrawn"' in states

    stranger = app.test_client()
    login(stranger, make_party("manufacturer").email)
    assert stranger.get(page).status_code == 404
    foreign = form_post(stranger, dispute, {f"dispute{record_id}-reason": "x"}, page_path="/dashboard")
    assert foreign.status_code == 404
