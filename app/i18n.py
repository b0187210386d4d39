"""Locale choice: explicit choice in the session, then the user's, then the browser's."""

from __future__ import annotations

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import get_locale, get_translations
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


def _translations():
    """The request's catalog for templates, looked up once per request and locale.

    A page translates a hundred strings or more, and Flask-Babel resolves its context, the
    locale and the catalog again for each; `force_locale` (mail in the recipient's language)
    sets another locale object, which misses the memo."""
    state = g.get("_flask_babel")
    memo = g.get("_template_translations")
    if memo is not None and state is not None and memo[0] is getattr(state, "babel_locale", None):
        return memo[1]
    translations = get_translations()
    g._template_translations = (get_locale(), translations)
    return translations


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone,
                   default_translation_directories=str(app.root_path) + "/translations")
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: _translations().ugettext(s),
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
        newstyle=True)
    app.jinja_env.globals["get_locale"] = get_locale
