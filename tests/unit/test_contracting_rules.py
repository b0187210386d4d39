"""Contracting's pure rules: the request transition table, the agreement document and its
hash, and when an allocation is in its renewal window or counts towards an obligation."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from app.models import Allocation, AllocationStatus, ContractForm, RequestStatus
from services import agreement_document
from services.agreements import counts_on, lifecycle_of
from services.capacity_requests import Side, actions_for, step_for

R = RequestStatus
M, P, OP, S = Side.MANUFACTURER, Side.PROVIDER, Side.OPERATOR, Side.SYSTEM

# Written out by hand from the negotiation rules (who waits on whom), not read from the table.
ALLOWED = {
    (None, "request"): (R.REQUESTED, M),
    (R.REQUESTED, "accept"): (R.ACCEPTED, P),
    (R.REQUESTED, "decline"): (R.DECLINED, P),
    (R.REQUESTED, "counter"): (R.COUNTERED, P),
    (R.REQUESTED, "withdraw"): (R.WITHDRAWN, M),
    (R.REQUESTED, "cancel"): (R.CANCELLED, OP),
    (R.REQUESTED, "expire"): (R.EXPIRED, S),
    (R.COUNTERED, "accept_counter"): (R.ACCEPTED, M),
    (R.COUNTERED, "withdraw"): (R.WITHDRAWN, M),
    (R.COUNTERED, "cancel"): (R.CANCELLED, OP),
    (R.COUNTERED, "expire"): (R.EXPIRED, S),
}
STATUSES = [None, *RequestStatus]
ACTIONS = ["request", "accept", "decline", "counter", "accept_counter", "withdraw", "cancel",
           "expire", "reopen", ""]
REFUSED = [pair for pair in itertools.product(STATUSES, ACTIONS) if pair not in ALLOWED]


@pytest.mark.parametrize(("status", "action"), list(ALLOWED))
def test_every_allowed_move_leads_to_its_status_taken_by_its_side(status, action):
    step = step_for(status, action)
    assert step is not None
    assert (step.to, step.side) == ALLOWED[(status, action)]


@pytest.mark.parametrize(("status", "action"), REFUSED)
def test_every_other_move_is_refused(status, action):
    assert step_for(status, action) is None


@pytest.mark.parametrize(("status", "side", "expected"), [
    (R.REQUESTED, P, {"accept", "decline", "counter"}),
    (R.REQUESTED, M, {"withdraw"}),
    (R.REQUESTED, OP, {"cancel"}),
    (R.REQUESTED, S, {"expire"}),
    (R.COUNTERED, M, {"accept_counter", "withdraw"}),
    (R.COUNTERED, P, set()),  # the counter waits on the manufacturer
    (R.COUNTERED, OP, {"cancel"}),
    (R.COUNTERED, S, {"expire"}),
    (R.REQUESTED, None, set()),  # an outsider has no buttons
    (R.COUNTERED, None, set()),
])
def test_actions_each_side_sees_on_an_open_request(status, side, expected):
    assert set(actions_for(status, side)) == expected


@pytest.mark.parametrize("status", [R.ACCEPTED, R.DECLINED, R.WITHDRAWN, R.EXPIRED, R.CANCELLED])
def test_a_closed_request_offers_nobody_an_action(status):
    assert all(actions_for(status, side) == [] for side in [*Side, None])


# --- the agreement document ------------------------------------------------------------------

PROVIDER = {"id": 3, "legal_name": "深圳绿源回收有限公司", "credit_code": "91440300MA5FL3QX2K"}
MAKER = {"id": 5, "legal_name": "华南新能源汽车股份有限公司", "credit_code": "91440300MA5G7TPD8R"}
OUTLET = {"id": 7, "name": "深圳宝安集中贮存网点", "address": "广东省深圳市宝安区西乡街道固戍二路18号",
          "type": "centralized_storage", "city_code": "440300", "city_name": "深圳市"}


def allocation_terms(**overrides) -> dict:
    return {"allocation_id": 11, "manufacturer": dict(MAKER), "tonnes_per_year": 40.0,
            "form": "co_built", "start_date": "2026-12-01", "end_date": "2027-12-01",
            "term_months": 12, "annual_fee_fen": 1_200_000, "handling_fee_fen_per_t": 30_000,
            "renewal": False, **overrides}


def build(*, provider=None, allocations=None) -> dict:
    return agreement_document.build(
        number="OP-AG-2026-000001", version=1, reason="initial", issued_on=date(2026, 12, 1),
        outlet=dict(OUTLET), provider=provider or dict(PROVIDER),
        allocations=allocations or [allocation_terms()], offered_t_per_year=100.0)


def test_the_hash_is_stable_and_independent_of_key_order():
    document = build()
    assert agreement_document.sha256_of(document) == agreement_document.sha256_of(build())
    reordered = dict(reversed(list(document.items())))
    assert agreement_document.sha256_of(reordered) == agreement_document.sha256_of(document)
    assert len(agreement_document.sha256_of(document)) == 64


def _changed_responsibility(document: dict) -> dict:
    changed = copy.deepcopy(document)
    changed["responsibilities"][0]["zh"] += "（另行约定）"
    return changed


@pytest.mark.parametrize("changed", [
    pytest.param(lambda: build(allocations=[allocation_terms(tonnes_per_year=40.5)]), id="tonnes"),
    pytest.param(lambda: build(allocations=[allocation_terms(annual_fee_fen=1_200_001)]),
                 id="annual fee"),
    pytest.param(lambda: build(allocations=[allocation_terms(handling_fee_fen_per_t=29_999)]),
                 id="handling fee"),
    pytest.param(lambda: build(provider={**PROVIDER, "credit_code": "91440300MA5FL3QX3H"}),
                 id="provider credit code"),
    pytest.param(lambda: build(allocations=[allocation_terms(
        manufacturer={**MAKER, "credit_code": "91440300MA5G7TPD9P"})]), id="maker credit code"),
    pytest.param(lambda: build(allocations=[allocation_terms(end_date="2028-12-01")]),
                 id="end date"),
    pytest.param(lambda: _changed_responsibility(build()), id="responsibility text"),
])
def test_the_hash_changes_when_any_term_changes(changed):
    assert agreement_document.sha256_of(changed()) != agreement_document.sha256_of(build())


def test_the_document_names_every_party_and_totals_the_allocations():
    other = {"id": 9, "legal_name": "华北汽车有限公司", "credit_code": "91110000MA00000001"}
    document = build(allocations=[allocation_terms(),
                                  allocation_terms(allocation_id=12, manufacturer=other,
                                                   tonnes_per_year=35.25)])
    assert agreement_document.party_ids(document) == [3, 5, 9]
    assert [p["role"] for p in document["parties"]] == ["provider", "manufacturer", "manufacturer"]
    assert document["allocated_t_per_year"] == 75.25
    assert {r["code"] for r in document["responsibilities"]} >= {"safe_storage", "filing"}


def test_problems_is_empty_for_an_intact_signed_document():
    document = build()
    sha = agreement_document.sha256_of(document)
    assert agreement_document.problems(document, sha, [("provider", sha), ("maker", sha)]) == []


def test_problems_reports_a_document_altered_after_issue():
    document = build()
    issued = agreement_document.sha256_of(document)
    altered = copy.deepcopy(document)
    altered["allocations"][0]["tonnes_per_year"] = 4.0
    found = agreement_document.problems(altered, issued, [])
    assert len(found) == 1
    assert "changed after it was issued" in found[0] and issued in found[0]
    # and every signature, made on the issued text, no longer matches the text either
    found = agreement_document.problems(altered, issued, [("绿源", issued)])
    assert len(found) == 2 and "绿源" in found[1]


def test_problems_reports_a_signature_over_another_text():
    document = build()
    sha = agreement_document.sha256_of(document)
    other = agreement_document.sha256_of(build(allocations=[allocation_terms(tonnes_per_year=60)]))
    found = agreement_document.problems(document, sha, [("绿源", sha), ("华南", other)])
    assert len(found) == 1
    assert "华南" in found[0] and other in found[0] and "绿源" not in found[0]


# --- lifecycle and coverage -----------------------------------------------------------------

END = date(2027, 12, 1)


def allocation(status=AllocationStatus.ACTIVE, *, start=date(2026, 12, 1), ends_on=END,
               activated_at=datetime(2026, 12, 5, 2, 0, tzinfo=UTC), notice_given_at=None):
    return Allocation(status=status, form=ContractForm.CO_BUILT, tonnes_per_year=40.0,
                      annual_fee_fen=0, handling_fee_fen_per_t=0, term_months=12,
                      start_date=start, end_date=END, ends_on=ends_on,
                      activated_at=activated_at, notice_given_at=notice_given_at)


def test_the_renewal_window_opens_exactly_sixty_days_before_the_end():
    active = allocation()
    assert lifecycle_of(active, END - timedelta(days=61), 60) == "active"
    assert lifecycle_of(active, END - timedelta(days=60), 60) == "renewal_window"
    assert lifecycle_of(active, END - timedelta(days=1), 60) == "renewal_window"
    assert lifecycle_of(active, END - timedelta(days=31), 30) == "active"  # the window is a setting


def test_a_notice_shows_over_the_renewal_window():
    noticed = allocation(notice_given_at=datetime(2027, 9, 1, tzinfo=UTC))
    assert lifecycle_of(noticed, date(2027, 9, 2), 60) == "notice_given"
    assert lifecycle_of(noticed, END - timedelta(days=10), 60) == "notice_given"


@pytest.mark.parametrize("status", [AllocationStatus.PENDING, AllocationStatus.EXPIRED,
                                    AllocationStatus.TERMINATED, AllocationStatus.LAPSED])
def test_other_statuses_read_as_stored(status):
    assert lifecycle_of(allocation(status), END - timedelta(days=5), 60) == status.value


def test_an_allocation_counts_from_activation_up_to_but_not_including_ends_on():
    active = allocation()  # starts 1 Dec, signed 5 Dec 10:00 in China
    assert not counts_on(active, date(2026, 12, 4))
    assert counts_on(active, date(2026, 12, 5))
    assert counts_on(active, END - timedelta(days=1))
    assert not counts_on(active, END)


def test_activation_is_read_on_the_china_calendar():
    late_evening_utc = allocation(activated_at=datetime(2026, 12, 4, 17, 0, tzinfo=UTC))
    assert counts_on(late_evening_utc, date(2026, 12, 5))  # 01:00 on 5 Dec in China
    assert not counts_on(late_evening_utc, date(2026, 12, 4))


def test_signed_early_it_counts_from_the_start_date():
    later_start = allocation(start=date(2027, 1, 1))
    assert not counts_on(later_start, date(2026, 12, 31))
    assert counts_on(later_start, date(2027, 1, 1))


def test_ended_allocations_count_for_the_days_they_ran():
    terminated = allocation(AllocationStatus.TERMINATED, ends_on=date(2027, 3, 31))
    assert counts_on(terminated, date(2027, 3, 30))
    assert not counts_on(terminated, date(2027, 3, 31))
    assert counts_on(allocation(AllocationStatus.EXPIRED), END - timedelta(days=1))


@pytest.mark.parametrize("status", [AllocationStatus.PENDING, AllocationStatus.LAPSED])
def test_unsigned_allocations_never_count(status):
    assert not counts_on(allocation(status), date(2027, 6, 1))
    assert not counts_on(allocation(status, activated_at=None), date(2027, 6, 1))
