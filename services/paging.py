"""A page of a query's rows and how many rows match in all: every list a person or a client
pages through (a provider's outlets, plans, invoices, requests, agreements, certificates,
notifications, the audit log, sales figures)."""

from __future__ import annotations

from sqlalchemy import Select, func, select

from app.extensions import db


def page_of(query: Select, *order_by, page: int = 1, per_page: int | None = 50) -> tuple[list, int]:
    """The rows of `query` in `order_by` order, the `page`-th run of `per_page` of them (every
    row with `per_page=None`), and the count of all that match. The count runs on the query
    without its order, so it stays a plain COUNT over the filter."""
    total = db.session.execute(select(func.count()).select_from(query.order_by(None).subquery())
                               ).scalar_one()
    query = query.order_by(*order_by)
    if per_page is not None:
        query = query.limit(per_page).offset((max(page, 1) - 1) * per_page)
    return list(db.session.execute(query).unique().scalars()), total
