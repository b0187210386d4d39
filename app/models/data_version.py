"""A version token per scope of tables, changed in the transaction of every write to them."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db


class DataVersion(db.Model):
    """`token` is random, not a counter: a restored backup brings back the token that went
    with its own data, and can never revive a number a process has seen with other data."""

    __tablename__ = "data_versions"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
