"""Server-rendered pages."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.web import auth, main, operator, org

    for module in (main, auth, org, operator):
        app.register_blueprint(module.bp)
    main.register_template_helpers(app)
