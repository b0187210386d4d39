"""Who may do what: one table of rules, one function that reads it.

A rule names the organization kinds allowed, the membership roles allowed, and whether the
organization must be verified. Unverified organizations may sign in and fill in data, but
every action that lists, contracts, certifies or files requires verification.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.extensions import db
from app.models import MemberRole, Membership, Organization, OrgKind
from services.errors import NotFound, PermissionDenied

ANY_KIND = frozenset(OrgKind)
ANY_ROLE = frozenset(MemberRole)
MANAGERS = frozenset({MemberRole.OWNER, MemberRole.ADMIN})


@dataclass(frozen=True)
class Rule:
    kinds: frozenset = ANY_KIND
    roles: frozenset = ANY_ROLE
    verified: bool = False


RULES: dict[str, Rule] = {
    # Own organization
    "organization.view": Rule(),
    "organization.edit": Rule(roles=MANAGERS),
    "members.view": Rule(),
    "members.invite": Rule(roles=MANAGERS),
    "members.change_role": Rule(roles=frozenset({MemberRole.OWNER})),
    "members.remove": Rule(roles=MANAGERS),
    # Platform operation
    "organizations.review": Rule(kinds=frozenset({OrgKind.OPERATOR}), verified=True),
    "organizations.verify": Rule(kinds=frozenset({OrgKind.OPERATOR}), verified=True),
    "audit.browse": Rule(kinds=frozenset({OrgKind.OPERATOR}), verified=True),
    "reference.manage": Rule(kinds=frozenset({OrgKind.OPERATOR}), roles=MANAGERS, verified=True),
    # Marketplace actions (taken by later capabilities); all need verification.
    "outlets.manage": Rule(kinds=frozenset({OrgKind.PROVIDER})),
    "outlets.list": Rule(kinds=frozenset({OrgKind.PROVIDER}), verified=True),
    "capacity.contract": Rule(kinds=frozenset({OrgKind.MANUFACTURER}), verified=True),
    "capacity.respond": Rule(kinds=frozenset({OrgKind.PROVIDER}), verified=True),
    "contracts.moderate": Rule(kinds=frozenset({OrgKind.OPERATOR}), verified=True),
    "certification.act": Rule(kinds=frozenset({OrgKind.CERTIFIER}), verified=True),
    "filings.generate": Rule(kinds=frozenset({OrgKind.MANUFACTURER}), verified=True),
    "agreements.sign": Rule(kinds=frozenset({OrgKind.MANUFACTURER, OrgKind.PROVIDER}),
                            roles=MANAGERS, verified=True),
    # Billing: parties' managers propose cost pools, keep bank details and record transfers;
    # any member reads invoices; operators write off, credit and record on anyone's behalf.
    "billing.manage": Rule(kinds=frozenset({OrgKind.MANUFACTURER, OrgKind.PROVIDER}),
                           roles=MANAGERS, verified=True),
    "billing.view": Rule(kinds=frozenset({OrgKind.MANUFACTURER, OrgKind.PROVIDER})),
    "billing.operate": Rule(kinds=frozenset({OrgKind.OPERATOR}), verified=True),
    # Handled tonnes: any member of the provider records, corrects or withdraws them (the
    # outlet's staff); disputing one, which holds back its invoicing, is for the maker's managers.
    "handling.record": Rule(kinds=frozenset({OrgKind.PROVIDER}), verified=True),
    "handling.dispute": Rule(kinds=frozenset({OrgKind.MANUFACTURER}), roles=MANAGERS, verified=True),
}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.allowed


def decide(action: str, organization: Organization | None, role: MemberRole | None) -> Decision:
    """Pure: may a member with `role` of `organization` take `action`?"""
    rule = RULES[action]
    if organization is None or role is None:
        return Decision(False, "you are not a member of this organization")
    if organization.kind not in rule.kinds:
        kinds = ", ".join(sorted(k.value for k in rule.kinds))
        return Decision(False, f"only {kinds} organizations may do this")
    if role not in rule.roles:
        roles = ", ".join(sorted(r.value for r in rule.roles))
        return Decision(False, f"requires the role {roles}")
    if rule.verified and not organization.is_verified:
        return Decision(False, "your organization must be verified by an operator first")
    return Decision(True)


def membership_of(user, organization_id: int | None) -> Membership | None:
    if user is None or organization_id is None:
        return None
    for membership in getattr(user, "memberships", ()):
        if membership.organization_id == organization_id:
            return membership
    return None


def can(user, action: str, organization: Organization | None) -> Decision:
    membership = membership_of(user, organization.id if organization else None)
    return decide(action, organization, membership.role if membership else None)


def require(user, action: str, organization: Organization | None) -> None:
    decision = can(user, action, organization)
    if not decision:
        raise PermissionDenied(decision.reason or "not allowed")


def operator_membership(user) -> Membership | None:
    """The user's membership in a verified operator organization, if any."""
    for membership in getattr(user, "memberships", ()):
        org = membership.organization
        if org.kind is OrgKind.OPERATOR and org.is_verified:
            return membership
    return None


def member_org_ids(actor) -> list[int]:
    """The ids of the organizations the acting user belongs to: what every organization-
    scoped query filters by."""
    return [m.organization_id for m in getattr(actor.user, "memberships", ())]


def is_operator(actor) -> bool:
    return operator_membership(actor.user) is not None


def organization_in_view(actor, organization_id: int | None) -> int | None:
    """`organization_id` when the actor may read that organization's billing: its own, or any
    existing one for an operator. NotFound otherwise, so a stranger learns no ids."""
    if organization_id is None:
        return None
    if membership_of(actor.user, organization_id):
        return organization_id
    if is_operator(actor) and db.session.get(Organization, organization_id) is not None:
        return organization_id
    raise NotFound("organization", organization_id)


def require_operator(user, action: str) -> Organization:
    """Platform-wide actions: the acting organization is the user's operator organization."""
    membership = operator_membership(user)
    if membership is None:
        raise PermissionDenied("only platform operators may do this")
    require(user, action, membership.organization)
    return membership.organization
