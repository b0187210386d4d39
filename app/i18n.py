"""Locale choice: explicit choice in the session, then the user's, then the browser's."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from app.extensions import babel


def _from_header() -> str | None:
    # Werkzeug orders by quality; map any Chinese tag (zh, zh-CN, zh-Hans-CN) to zh_CN.
    for tag, _quality in request.accept_languages:
        tag = tag.lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return None


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI and jobs speak the platform's default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return _from_header() or current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["DISPLAY_TIMEZONE"]


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=str(app.root_path) + "/translations")
    app.jinja_env.globals["get_locale"] = get_locale
