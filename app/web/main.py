"""Home, dashboard, language switch, health check."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    session,
)
from flask_babel import format_currency, get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import text

from app.extensions import db
from app.security import current_membership
from app.web.forms import PROVIDER_TYPE_CHOICES
from services import divisions, permissions, rule_sets

bp = Blueprint("main", __name__)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site relative paths: never an open redirect."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect("/dashboard")
    return render_template("main/index.html")


@bp.route("/dashboard")
@login_required
def dashboard():
    membership = current_membership()
    return render_template("main/dashboard.html", membership=membership,
                           organization=membership.organization if membership else None)


@bp.route("/lang/<code>", methods=["GET"])
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next")))


@bp.route("/organization/switch/<int:organization_id>", methods=["POST"])
@login_required
def switch_organization(organization_id: int):
    if permissions.membership_of(current_user, organization_id) is not None:
        session["org_id"] = organization_id
    return redirect("/dashboard")


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not healthy"
        db.session.rollback()
        return jsonify({"status": "error", "database": f"error: {type(exc).__name__}"}), 503
    return jsonify({"status": "ok", "database": "ok"})


def _labels() -> dict:
    return {
        "kind": {"manufacturer": _("Manufacturer"), "provider": _("Site provider"),
                 "certifier": _("Certifier"), "operator": _("Operator")},
        "role": {"owner": _("Owner"), "admin": _("Admin"), "member": _("Member")},
        "status": {"pending": _("Pending"), "verified": _("Verified"),
                   "rejected": _("Rejected")},
    }


def register_template_helpers(app: Flask) -> None:
    from app.web.notifications import inject_unread_notifications

    app.context_processor(inject_unread_notifications)

    # The navigation's links are a page's ~40 translated strings and ~20 URLs: a tenth of the
    # CPU of signed-in page views, for HTML that is the same for everyone with the same
    # organization kind, operator role, name, unread count and language. Rendered once per
    # such combination (and proxy prefix, which the URLs carry) in each process.
    @lru_cache(maxsize=1024)  # ~5 kB each at most
    def render_links(_language: str, _script_root: str, *arguments) -> Markup:
        return get_template_attribute("_nav.html", "links")(*arguments)

    @app.template_global()
    def site_links(organization, operator: bool, unread: int) -> Markup:
        signed_in = current_user.is_authenticated
        return render_links(get_locale().language, request.script_root, signed_in,
                            organization.kind.value if organization else None, operator,
                            current_user.name if signed_in else None, unread)

    @app.template_global()
    def kind_label(value: str) -> str:
        return _labels()["kind"].get(value, value)

    @app.template_global()
    def provider_type_label(value: str) -> str:
        return str(dict(PROVIDER_TYPE_CHOICES).get(value, value))

    @app.template_global()
    def role_label(value: str) -> str:
        return _labels()["role"].get(value, value)

    @app.template_global()
    def status_label(value: str) -> str:
        return _labels()["status"].get(value, value)

    @app.template_global()
    def localized(obj, field: str) -> str:
        """obj.<field>_zh or obj.<field>_en, by the page's language."""
        suffix = "zh" if get_locale().language == "zh" else "en"
        value = obj.get(f"{field}_{suffix}") if isinstance(obj, dict) else getattr(obj, f"{field}_{suffix}")
        return value

    @app.template_filter()
    def yuan(fen: int | None) -> str:
        """Integer fen shown as yuan; money is only formatted at the edge."""
        if fen is None:
            return "—"
        return format_currency(fen / 100, "CNY")

    @app.template_global()
    def rule_set_title(reference: str | None) -> str:
        """The regulation's name for a rule set kept as "<code> <version>" (a saved plan's),
        the reference itself if no such rule set is loaded."""
        code, _space, version = (reference or "").partition(" ")
        found = rule_sets.get(code, version or None) if code else None
        return localized(found, "title") if found else (reference or "")

    @app.template_global()
    def division_name(code: str | None) -> str:
        """A division's name for its code (the code itself if unknown): a bare 440300 tells a
        reader nothing."""
        found = divisions.index().get(code) if code else None
        return found.name if found else (code or "")

    @app.template_global()
    def outlet_status_label(value: str) -> str:
        return {"draft": _("Draft"), "listed": _("Listed"), "suspended": _("Suspended"),
                "delisted": _("Delisted")}.get(value, value)

    @app.template_global()
    def outlet_type_label(value: str) -> str:
        return {"collection": _("Collection (收集型)"),
                "centralized_storage": _("Centralized storage (集中贮存型)")}.get(value, value)

    @app.context_processor
    def inject_navigation():
        membership = current_membership()
        organization = membership.organization if membership else None
        return {
            "current_membership": membership,
            "current_organization": organization,
            "is_operator": bool(current_user.is_authenticated
                                and permissions.operator_membership(current_user)),
            "can": lambda action: bool(organization and permissions.can(current_user, action,
                                                                         organization)),
        }
