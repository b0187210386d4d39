"""Organizations, the people in them, and invitations to join."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class OrgKind(enum.StrEnum):
    MANUFACTURER = "manufacturer"
    PROVIDER = "provider"
    CERTIFIER = "certifier"
    OPERATOR = "operator"


class ProviderType(enum.StrEnum):
    """What kind of site provider an organization is (only for kind=provider)."""

    UTILIZATION = "utilization"
    LOGISTICS = "logistics"
    DISMANTLER = "dismantler"
    MANUFACTURER = "manufacturer"


class VerificationStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class MemberRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as short strings (not a native ENUM type), so adding a value needs no DDL.
    return Enum(cls, name=name, native_enum=False, length=32,
                values_callable=lambda e: [m.value for m in e], validate_strings=True)


class Organization(db.Model):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind, "org_kind"), index=True)
    provider_type: Mapped[ProviderType | None] = mapped_column(_enum(ProviderType, "provider_type"))
    legal_name: Mapped[str] = mapped_column(String(200))
    english_name: Mapped[str | None] = mapped_column(String(200))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    address: Mapped[str] = mapped_column(String(300))
    division_code: Mapped[str] = mapped_column(ForeignKey("divisions.code"), index=True)
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    verification_status: Mapped[VerificationStatus] = mapped_column(
        _enum(VerificationStatus, "verification_status"),
        default=VerificationStatus.PENDING, index=True,
    )
    verification_reason: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Manufacturers only: whether its figures may be pooled (anonymously) in other makers'
    # co-building savings, and the last saving computed for it, shown on its dashboard.
    cobuilding_opt_in: Mapped[bool] = mapped_column(Boolean, default=False,
                                                    server_default=false())
    cobuilding_saving: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    division = relationship("Division", lazy="joined")
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )

    @property
    def is_verified(self) -> bool:
        return self.verification_status is VerificationStatus.VERIFIED

    @property
    def display_name(self) -> str:
        return self.legal_name


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "member_role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user = relationship("User", back_populates="memberships")
    organization: Mapped[Organization] = relationship(back_populates="memberships")


class Invitation(db.Model):
    """An owner's or admin's invitation; the emailed token is stored only as its SHA-256."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "member_role"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    organization: Mapped[Organization] = relationship()
    invited_by = relationship("User")
