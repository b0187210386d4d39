"""All models, imported once so Alembic and the app see the whole metadata."""

from app.models.audit import AuditEvent
from app.models.certification import (
    Accreditation,
    ApplicationPurpose,
    ApplicationStatus,
    Certificate,
    CertificateStatus,
    CertificationApplication,
    CertificationScheme,
    DeclaredRelationship,
    Finding,
    FindingGrade,
    Notification,
)
from app.models.obligations import CoveragePlan, SalesRecord
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
    "Accreditation",
    "ApiToken",
    "ApplicationPurpose",
    "ApplicationStatus",
    "Assessment",
    "AuditEvent",
    "CapacityOffer",
    "Certificate",
    "CertificateStatus",
    "CertificationApplication",
    "CertificationScheme",
    "ChecklistCategory",
    "ChecklistItem",
    "CoveragePlan",
    "DeclaredRelationship",
    "Division",
    "Establishment",
    "Evidence",
    "Finding",
    "FindingGrade",
    "Invitation",
    "MemberRole",
    "Membership",
    "Notification",
    "OrgKind",
    "Organization",
    "Outlet",
    "OutletStatus",
    "OutletType",
    "ProviderType",
    "Region",
    "RuleSet",
    "SalesRecord",
    "User",
    "VerificationStatus",
]
