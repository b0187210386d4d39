from types import SimpleNamespace

import pytest

from app.models import MemberRole, OrgKind, VerificationStatus
from services import permissions


def org(kind, verified=True, id=1):
    status = VerificationStatus.VERIFIED if verified else VerificationStatus.PENDING
    return SimpleNamespace(id=id, kind=kind, verification_status=status,
                           is_verified=status is VerificationStatus.VERIFIED)


def user_in(organization, role):
    membership = SimpleNamespace(organization_id=organization.id, organization=organization,
                                 role=role)
    return SimpleNamespace(id=7, memberships=[membership])


def test_every_rule_names_real_kinds_and_roles():
    for action, rule in permissions.RULES.items():
        assert rule.kinds <= set(OrgKind), action
        assert rule.roles <= set(MemberRole), action


@pytest.mark.parametrize("action", ["outlets.list", "capacity.contract", "certification.act",
                                    "filings.generate"])
def test_unverified_organizations_cannot_list_contract_certify_or_file(action):
    kind = next(iter(permissions.RULES[action].kinds))
    decision = permissions.decide(action, org(kind, verified=False), MemberRole.OWNER)
    assert not decision and "verified" in decision.reason
    assert permissions.decide(action, org(kind, verified=True), MemberRole.OWNER)


def test_unverified_organizations_can_still_fill_in_their_profile():
    assert permissions.decide("organization.edit", org(OrgKind.PROVIDER, verified=False),
                              MemberRole.OWNER)


def test_plain_members_cannot_invite_or_edit():
    organization = org(OrgKind.MANUFACTURER)
    assert not permissions.decide("members.invite", organization, MemberRole.MEMBER)
    assert not permissions.decide("organization.edit", organization, MemberRole.MEMBER)
    assert permissions.decide("members.invite", organization, MemberRole.ADMIN)


def test_only_owners_change_roles():
    organization = org(OrgKind.CERTIFIER)
    assert permissions.decide("members.change_role", organization, MemberRole.OWNER)
    assert not permissions.decide("members.change_role", organization, MemberRole.ADMIN)


def test_wrong_kind_is_refused_with_the_kinds_allowed():
    decision = permissions.decide("capacity.contract", org(OrgKind.PROVIDER), MemberRole.OWNER)
    assert not decision and "manufacturer" in decision.reason


def test_non_members_are_refused():
    assert not permissions.can(SimpleNamespace(memberships=[]), "organization.view",
                               org(OrgKind.PROVIDER))


def test_operator_actions_need_a_verified_operator_membership():
    operator_org = org(OrgKind.OPERATOR, id=3)
    operator = user_in(operator_org, MemberRole.MEMBER)
    assert permissions.require_operator(operator, "organizations.verify") is operator_org
    maker = user_in(org(OrgKind.MANUFACTURER), MemberRole.OWNER)
    with pytest.raises(permissions.PermissionDenied):
        permissions.require_operator(maker, "organizations.verify")
