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
from app.models.outlet import (
    Assessment,
    CapacityOffer,
    Establishment,
    Evidence,
    Outlet,
    OutletStatus,
    OutletType,
)
from app.models.reference import ChecklistCategory, ChecklistItem, Division, Region, RuleSet
from app.models.user import ApiToken, User

__all__ = [
    "ApiToken",
    "Assessment",
    "AuditEvent",
    "CapacityOffer",
    "ChecklistCategory",
    "ChecklistItem",
    "Division",
    "Establishment",
    "Evidence",
    "Invitation",
    "MemberRole",
    "Membership",
    "OrgKind",
    "Organization",
    "Outlet",
    "OutletStatus",
    "OutletType",
    "ProviderType",
    "Region",
    "RuleSet",
    "User",
    "VerificationStatus",
]
