"""Reference data: administrative divisions, survey regions, rule sets, the checklist."""

from __future__ import annotations

from datetime import date

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class Division(db.Model):
    """A mainland administrative division keyed by its 6-digit adcode.

    level: province, prefecture (incl. the four municipalities, which count as
    prefecture-level regions) or district (counties, districts, county-level cities).
    """

    __tablename__ = "divisions"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    short_name: Mapped[str] = mapped_column(String(30))
    level: Mapped[str] = mapped_column(String(12), index=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("divisions.code"), index=True)
    province_code: Mapped[str] = mapped_column(String(6), index=True)
    prefecture_code: Mapped[str | None] = mapped_column(String(6), index=True)
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)


class Region(db.Model):
    """The survey's grouping of provinces (Figure 2)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(Integer)
    province_codes: Mapped[list[str]] = mapped_column(JSON)


class RuleSet(db.Model):
    """A versioned, effective-dated rule set; `parameters` is what services evaluate."""

    __tablename__ = "rule_sets"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(String(20))
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    sources: Mapped[list] = mapped_column(JSON)
    parameters: Mapped[dict] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text)


class ChecklistItem(db.Model):
    """One of the survey's 24 compliance items (Table 1), versioned with its checklist."""

    __tablename__ = "checklist_items"
    __table_args__ = (UniqueConstraint("checklist_version", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checklist_version: Mapped[str] = mapped_column(String(20))
    number: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(30))
    category_position: Mapped[int] = mapped_column(Integer)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    requirement_zh: Mapped[str] = mapped_column(Text)
    requirement_en: Mapped[str] = mapped_column(Text)
    applies_to: Mapped[list[str]] = mapped_column(JSON)
    effective_from: Mapped[date] = mapped_column(Date)
    survey_fail_share: Mapped[float | None] = mapped_column(Float)


class ChecklistCategory(db.Model):
    __tablename__ = "checklist_categories"
    __table_args__ = (UniqueConstraint("checklist_version", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checklist_version: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(30))
    position: Mapped[int] = mapped_column(Integer)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(80))
    survey_fail_share: Mapped[float | None] = mapped_column(Float)


__all__ = ["ChecklistCategory", "ChecklistItem", "Division", "Region", "RuleSet"]
