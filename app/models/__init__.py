"""All models, imported once so Alembic and the app see the whole metadata."""

from app.models.audit import AuditEvent
from app.models.organization import (
    Invitation,
    MemberRole,
    Membership,
    Organization,
    OrgKind,
    ProviderType,
    VerificationStatus,
)
from app.models.reference import ChecklistCategory, ChecklistItem, Division, Region, RuleSet
from app.models.user import ApiToken, User

__all__ = [
    "ApiToken",
    "AuditEvent",
    "ChecklistCategory",
    "ChecklistItem",
    "Division",
    "Invitation",
    "MemberRole",
    "Membership",
    "OrgKind",
    "Organization",
    "ProviderType",
    "Region",
    "RuleSet",
    "User",
    "VerificationStatus",
]
