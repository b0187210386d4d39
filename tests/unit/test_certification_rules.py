"""Pure rules of the certification workflow: the transition table, who acts, conflict of
interest, a certifier's standing, deadlines and scheme validation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from app.models import ApplicationStatus as S
from app.models import FindingGrade, VerificationStatus
from services import certification_schemes
from services.certification import (
    OPEN,
    TRANSITIONS,
    Side,
    actions_for,
    deadline,
    open_nonconformities,
    required_items,
    step_for,
    unanswered_nonconformities,
    waiting_on,
)
from services.certifiers import conflict_of_interest, standing_problem


@dataclass
class F:
    grade: FindingGrade
    responded_at: datetime | None = None
    closed_at: datetime | None = None
    item_number: int = 1


NOW = datetime(2026, 6, 1, 4, 0, tzinfo=UTC)


# --- the transition table -------------------------------------------------------------------

HAPPY_PATH = [
    (None, "apply", S.SUBMITTED),
    (S.SUBMITTED, "accept", S.ACCEPTED),
    (S.ACCEPTED, "schedule_audit", S.AUDIT_SCHEDULED),
    (S.AUDIT_SCHEDULED, "record_findings", S.AUDIT_SCHEDULED),
    (S.AUDIT_SCHEDULED, "complete_audit", S.AUDITED),
    (S.AUDITED, "respond", S.AUDITED),
    (S.AUDITED, "verify_finding", S.AUDITED),
    (S.AUDITED, "certify", S.CERTIFIED),
]


@pytest.mark.parametrize(("status", "action", "to"), HAPPY_PATH)
def test_the_happy_path_is_in_the_table(status, action, to):
    assert step_for(status, action).to is to


@pytest.mark.parametrize(("status", "action"), [
    (S.SUBMITTED, "certify"),            # no deciding without an audit
    (S.ACCEPTED, "record_findings"),     # no findings before an audit is scheduled
    (S.SUBMITTED, "complete_audit"),
    (S.AUDIT_SCHEDULED, "certify"),      # findings must be completed first
    (S.AUDIT_SCHEDULED, "respond"),      # nonconformities are answered once the audit is done
    (S.AUDITED, "accept"),
    (S.AUDITED, "decline"),              # declining is only for a fresh application
    (S.AUDITED, "record_findings"),      # the audit report is closed
])
def test_moves_outside_the_table_are_refused(status, action):
    assert step_for(status, action) is None


@pytest.mark.parametrize("closed", [S.DECLINED, S.CERTIFIED, S.REFUSED, S.WITHDRAWN])
def test_closed_applications_allow_nothing(closed):
    assert [a for (frm, a) in TRANSITIONS if frm is closed] == []
    assert actions_for(closed, Side.PROVIDER) == actions_for(closed, Side.CERTIFIER) == []


def test_each_side_takes_only_its_own_steps():
    provider_actions = {a for (_, a), s in TRANSITIONS.items() if s.side is Side.PROVIDER}
    certifier_actions = {a for (_, a), s in TRANSITIONS.items() if s.side is Side.CERTIFIER}
    assert provider_actions == {"apply", "withdraw", "respond", "attach_corrective_evidence"}
    assert {"accept", "decline", "schedule_audit", "record_findings", "complete_audit",
            "verify_finding", "certify", "refuse"} <= certifier_actions
    assert provider_actions.isdisjoint(certifier_actions)
    assert actions_for(S.SUBMITTED, Side.CERTIFIER) == ["accept", "decline"]
    assert actions_for(S.SUBMITTED, Side.PROVIDER) == ["withdraw"]
    assert actions_for(S.SUBMITTED, None) == []


def test_certifier_steps_need_standing_and_independence_except_declining():
    for (_, action), step in TRANSITIONS.items():
        if step.side is Side.CERTIFIER:
            assert step.permission == "certification.act"
            assert step.independent is (action != "decline"), action
        else:
            assert not step.independent


def test_the_provider_can_withdraw_while_open_only():
    assert {frm for (frm, a) in TRANSITIONS if a == "withdraw"} == set(OPEN)


# --- conflict of interest and standing ------------------------------------------------------

def test_conflict_of_interest():
    assert conflict_of_interest(7, 7, set()) == "own_organization"
    assert conflict_of_interest(7, 9, {9, 12}) == "declared_relationship"
    assert conflict_of_interest(7, 9, {12}) is None
    assert conflict_of_interest(7, 9, frozenset()) is None


TODAY = date(2026, 6, 1)
GOOD = {"is_certifier": True, "organization_verified": True,
        "accreditation_status": VerificationStatus.VERIFIED,
        "accreditation_valid_until": TODAY, "today": TODAY}


@pytest.mark.parametrize(("change", "problem"), [
    ({}, None),  # valid through its last day
    ({"is_certifier": False}, "not_certifier"),
    ({"organization_verified": False}, "organization_not_verified"),
    ({"accreditation_status": None}, "no_accreditation"),
    ({"accreditation_status": VerificationStatus.PENDING}, "accreditation_not_verified"),
    ({"accreditation_status": VerificationStatus.REJECTED}, "accreditation_not_verified"),
    ({"accreditation_valid_until": TODAY - timedelta(days=1)}, "accreditation_expired"),
])
def test_standing(change, problem):
    assert standing_problem(**{**GOOD, **change}) == problem


# --- findings and deadlines -----------------------------------------------------------------

def test_open_and_unanswered_nonconformities():
    findings = [F(FindingGrade.CONFORMS), F(FindingGrade.MINOR),
                F(FindingGrade.MAJOR, responded_at=NOW),
                F(FindingGrade.MAJOR, responded_at=NOW, closed_at=NOW)]
    assert open_nonconformities(findings) == findings[1:3]
    assert unanswered_nonconformities(findings) == [findings[1]]


def test_whose_move_it_is():
    assert waiting_on(S.SUBMITTED, 0) is Side.CERTIFIER
    assert waiting_on(S.AUDITED, 2) is Side.PROVIDER
    assert waiting_on(S.AUDITED, 0) is Side.CERTIFIER  # answers to verify, or a decision
    assert waiting_on(S.CERTIFIED, 0) is None


def test_deadlines():
    days = {"response_days": 10, "corrective_days": 30}
    assert deadline(S.SUBMITTED, NOW, audit_date=None, unanswered=0, **days) == NOW + timedelta(10)
    assert deadline(S.AUDITED, NOW, audit_date=None, unanswered=1, **days) == NOW + timedelta(30)
    assert deadline(S.REFUSED, NOW, audit_date=None, unanswered=0, **days) is None
    # A scheduled audit: the certifier's clock starts at the end of the audit day in China.
    audit_day = date(2026, 7, 1)
    expected = datetime(2026, 7, 1, 16, 0, tzinfo=UTC) + timedelta(days=10)
    assert deadline(S.AUDIT_SCHEDULED, NOW, audit_date=audit_day, unanswered=0, **days) == expected


def test_required_items_follow_the_scheme_and_applicability():
    applies = {1: ["collection", "centralized_storage"], 2: ["centralized_storage"]}
    assert required_items([2, 1, 1, 3], "collection", applies) == [1, 3]
    assert required_items([2, 1], "centralized_storage", applies) == [1, 2]
    assert required_items([5, 4], "collection", None) == [4, 5]


# --- scheme validation ----------------------------------------------------------------------

BASE = {"code": "OPC", "version": "1", "name_zh": "认证", "name_en": "Cert",
        "issuing_body": "Body", "outlet_types": ["collection"], "checklist_items": [1, 24]}


def test_a_valid_scheme_gets_the_defaults():
    clean, errors = certification_schemes.check_fields(BASE, creating=True)
    assert errors == {}
    assert (clean["validity_months"], clean["surveillance_interval_months"]) == (36, 12)
    assert clean["active"] is True


@pytest.mark.parametrize(("change", "field"), [
    ({"checklist_items": [0, 1]}, "checklist_items"),
    ({"checklist_items": [25]}, "checklist_items"),
    ({"checklist_items": []}, "checklist_items"),
    ({"checklist_items": ["x"]}, "checklist_items"),
    ({"outlet_types": ["depot"]}, "outlet_types"),
    ({"outlet_types": []}, "outlet_types"),
    ({"validity_months": 0}, "validity_months"),
    ({"validity_months": -12}, "validity_months"),
    ({"surveillance_interval_months": 0}, "surveillance_interval_months"),
    ({"validity_months": 12, "surveillance_interval_months": 24}, "surveillance_interval_months"),
    ({"validity_months": True}, "validity_months"),
    ({"name_en": "  "}, "name_en"),
])
def test_invalid_schemes_name_the_field(change, field):
    _, errors = certification_schemes.check_fields({**BASE, **change}, creating=True)
    assert set(errors) == {field}


def test_editing_checks_only_what_is_given():
    clean, errors = certification_schemes.check_fields({"active": False}, creating=False)
    assert (clean, errors) == ({"active": False}, {})


def test_the_shipped_default_scheme_is_valid_and_covers_everything():
    (default,) = certification_schemes.read_defaults()
    clean, errors = certification_schemes.check_fields(default, creating=True)
    assert errors == {}
    assert clean["checklist_items"] == list(range(1, 25))
    assert set(clean["outlet_types"]) == {"collection", "centralized_storage"}
    assert (clean["validity_months"], clean["surveillance_interval_months"]) == (36, 12)
