"""Outlets in the shared pool, their self-assessments, evidence and capacity offers."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.organization import _enum
from app.models.types import UTCDateTime, utcnow


class OutletType(enum.StrEnum):
    COLLECTION = "collection"
    CENTRALIZED_STORAGE = "centralized_storage"


class OutletStatus(enum.StrEnum):
    DRAFT = "draft"
    LISTED = "listed"
    SUSPENDED = "suspended"
    DELISTED = "delisted"


class Establishment(enum.StrEnum):
    SELF_BUILT = "self_built"
    CO_BUILT = "co_built"
    AUTHORIZED = "authorized"


# On PostgreSQL the database keeps each outlet's text bigrams in a generated column with a GIN
# index (migration 0015, services/pool_search.py): derived by the database, so not mapped here,
# and left out when the schema is compared with the models (migrations/env.py, tests).
DATABASE_MAINTAINED = frozenset({"search_bigrams", "ix_outlets_search_bigrams"})


def compared_with_models(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's include_object: everything but what DATABASE_MAINTAINED names."""
    return not (reflected and compare_to is None and name in DATABASE_MAINTAINED)


class Outlet(db.Model):
    __tablename__ = "outlets"
    __table_args__ = (
        UniqueConstraint("provider_id", "import_key"),
        # The pool search filters listed outlets by place, type and capacity; keep each
        # common filter an index range scan (bench/search.py prints the plans).
        # Province and city searches filter further by type, certification, fee and
        # capacity: covering indexes (id last, for PostgreSQL index-only scans) answer the
        # count and the page's ids without touching the table.
        Index("ix_outlets_status_province_cover", "status", "province_code", "type", "certified",
              "annual_fee_fen", "available_capacity_t", "id"),
        Index("ix_outlets_status_city_cover", "status", "city_code", "type", "certified",
              "annual_fee_fen", "available_capacity_t", "id"),
        Index("ix_outlets_status_name", "status", "name", "id"),
        # Free text is LIKE '%…%', which no index can seek; with the text and the default sort
        # key in the index, a province's rows are filtered and ordered without reading the
        # table (PostgreSQL, 100k outlets: 7.6 ms -> 1.5 ms; without `name` the planner went
        # back to the table for the sort and read 2,600 pages for 20 rows).
        Index("ix_outlets_status_province_text", "status", "province_code", "search_text", "name",
              "id"),
        Index("ix_outlets_status_district", "status", "district_code"),
        Index("ix_outlets_status_lat_lon", "status", "lat", "lon"),
        Index("ix_outlets_status_available", "status", "available_capacity_t"),
        Index("ix_outlets_status_fee", "status", "annual_fee_fen"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    province_code: Mapped[str] = mapped_column(String(6))
    city_code: Mapped[str] = mapped_column(String(6))
    district_code: Mapped[str | None] = mapped_column(String(6))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    type: Mapped[OutletType] = mapped_column(_enum(OutletType, "outlet_type"))
    storage_area_m2: Mapped[float] = mapped_column(Float)
    max_stored_weight_t: Mapped[float] = mapped_column(Float)
    annual_capacity_t: Mapped[float] = mapped_column(Float)
    chemistries: Mapped[list[str]] = mapped_column(JSON, default=list)
    safety_classes: Mapped[list[str]] = mapped_column(JSON, default=list)
    facilities: Mapped[str | None] = mapped_column(Text)
    opening_hours: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    establishment: Mapped[Establishment] = mapped_column(_enum(Establishment, "establishment"))
    established_with: Mapped[str | None] = mapped_column(String(300))
    status: Mapped[OutletStatus] = mapped_column(
        _enum(OutletStatus, "outlet_status"), default=OutletStatus.DRAFT)
    # Stable key of an imported row, so re-importing the same file changes nothing.
    import_key: Mapped[str | None] = mapped_column(String(64))
    # Projections kept by the services that own them, so the pool search reads one table.
    compliant: Mapped[bool] = mapped_column(Boolean, default=False)
    certified: Mapped[bool] = mapped_column(Boolean, default=False)
    available_capacity_t: Mapped[float | None] = mapped_column(Float)
    annual_fee_fen: Mapped[int | None] = mapped_column(Integer)
    handling_fee_fen_per_t: Mapped[int | None] = mapped_column(Integer)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    provider = relationship("Organization", lazy="joined")
    offer: Mapped[CapacityOffer | None] = relationship(back_populates="outlet", uselist=False)


class Assessment(db.Model):
    """One version of an outlet's self-assessment against the checklist.

    `answers` maps the item number (as a string) to {"result": pass|fail|na, "note": str}.
    The latest complete version is the one that counts.
    """

    __tablename__ = "assessments"
    __table_args__ = (UniqueConstraint("outlet_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    checklist_version: Mapped[str] = mapped_column(String(20))
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    passed: Mapped[bool | None] = mapped_column(Boolean)
    # {category code: {"applicable": n, "passed": n, "failed": [item numbers]}}
    category_results: Mapped[dict | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    outlet: Mapped[Outlet] = relationship()


class Evidence(db.Model):
    """A photo or PDF, stored outside the web root under a generated name."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"), index=True)
    checklist_item: Mapped[int | None] = mapped_column(Integer)
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(60))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    captured_lat: Mapped[float | None] = mapped_column(Float)
    captured_lon: Mapped[float | None] = mapped_column(Float)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CapacityOffer(db.Model):
    """What a listed outlet offers sharing partners. Money in integer fen."""

    __tablename__ = "capacity_offers"

    id: Mapped[int] = mapped_column(primary_key=True)
    outlet_id: Mapped[int] = mapped_column(ForeignKey("outlets.id", ondelete="CASCADE"), unique=True)
    capacity_t_per_year: Mapped[float] = mapped_column(Float)
    annual_fee_fen: Mapped[int] = mapped_column(Integer)
    handling_fee_fen_per_t: Mapped[int] = mapped_column(Integer)
    min_term_months: Mapped[int] = mapped_column(Integer)
    available_from: Mapped[date] = mapped_column(Date)
    available_to: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    outlet: Mapped[Outlet] = relationship(back_populates="offer")
