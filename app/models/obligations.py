"""What manufacturers sell where, and the coverage plans computed for them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class SalesRecord(db.Model):
    """A maker's NEV sales in one prefecture-level region and year; parc where it knows it."""

    __tablename__ = "sales_records"
    __table_args__ = (UniqueConstraint("manufacturer_id", "division_code", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    division_code: Mapped[str] = mapped_column(ForeignKey("divisions.code"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    sales: Mapped[int] = mapped_column(Integer)
    parc: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class CoveragePlan(db.Model):
    """A solved coverage plan, kept so plans can be compared and turned into requests."""

    __tablename__ = "coverage_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    manufacturer_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    as_of: Mapped[date] = mapped_column(Date)
    rule_set: Mapped[str] = mapped_column(String(60))
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20))  # optimal, time_limit, infeasible, budget
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    lower_bound_fen: Mapped[int | None] = mapped_column(BigInteger)
    gap: Mapped[float | None] = mapped_column(Float)
    greedy_cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    solve_seconds: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
