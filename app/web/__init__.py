"""Server-rendered pages."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.web import (
        auth,
        billing,
        certificates,
        certification,
        cobuilding,
        contracts,
        coverage_plans,
        filings,
        handling,
        imports,
        main,
        notifications,
        obligations,
        operator,
        org,
        outlets,
        pool,
        stats,
        webhooks,
    )

    for module in (main, auth, org, operator, outlets, pool, imports, stats, certification,
                   certificates, notifications, obligations, coverage_plans, cobuilding, contracts,
                   filings, billing, handling, webhooks):
        app.register_blueprint(module.bp)
    main.register_template_helpers(app)
