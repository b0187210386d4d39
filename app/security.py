"""Sessions, bearer tokens, CSRF, security headers and throttling, in one place."""

from __future__ import annotations

from flask import Flask, g, request, session
from flask_login import current_user

from app.extensions import csrf, db, limiter, login_manager, talisman
from app.models import User
from services import accounts, permissions
from services.audit import Actor

# No inline script anywhere: every script is a file under /static.
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "font-src": "'self'",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    csrf.init_app(app)
    production = app.config.get("ENV_NAME") == "production"
    csp = dict(CSP)
    tile_origin = tile_server_origin(app.config.get("MAP_TILE_URL", ""))
    if tile_origin:
        csp["img-src"] = [*CSP["img-src"], tile_origin]
    if app.config.get("STRIPE_PUBLISHABLE_KEY"):
        # Stripe.js must be loaded from Stripe itself (PCI DSS: it cannot be vendored); it
        # runs only on the card payment page, and only when Stripe is configured.
        csp.update({
            "script-src": ["'self'", "https://js.stripe.com"],
            "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"],
            "connect-src": ["'self'", "https://api.stripe.com"],
        })
    talisman.init_app(
        app,
        force_https=app.config.get("FORCE_HTTPS", False),
        strict_transport_security=production,
        strict_transport_security_max_age=31536000,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=csp,
        frame_options="DENY",
        referrer_policy="strict-origin-when-cross-origin",
    )
    if app.config.get("REDIS_URL"):
        app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    else:
        app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)


def tile_server_origin(url: str) -> str | None:
    """The origin pattern to allow for map tiles, e.g. https://*.tianditu.gov.cn."""
    from urllib.parse import urlsplit

    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "x"))
    host = parts.hostname or ""
    if "{s}" in url.split("/")[2]:
        host = "*." + host.split(".", 1)[1]
    return f"{parts.scheme}://{host}"


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        return accounts.signed_in_user(int(user_id))
    except (TypeError, ValueError):
        return None


@login_manager.request_loader
def load_user_from_bearer(req) -> User | None:
    """`Authorization: Bearer <token>` authenticates API calls; never a browser session."""
    header = req.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        return None
    user, touched = accounts.user_for_token(raw.strip())
    if touched:
        db.session.commit()  # before the call's own work: only the token's last use is pending
    if user is not None:
        g.auth_via = "token"
    return user


def authenticated_by_token() -> bool:
    return g.get("auth_via") == "token"


def client_ip() -> str | None:
    return request.remote_addr


def current_actor() -> Actor:
    user = current_user._get_current_object() if current_user.is_authenticated else None
    return Actor(user=user, ip=client_ip())


def current_membership():
    """The membership the signed-in user acts through in the web UI.

    A person can belong to several organizations; the session remembers the one chosen,
    defaulting to the first.
    """
    if not current_user.is_authenticated or not current_user.memberships:
        return None
    chosen = session.get("org_id")
    membership = permissions.membership_of(current_user, chosen)
    return membership or current_user.memberships[0]


def signin_limit_key() -> str:
    """Throttle per client address and per account, so one attacker cannot lock everyone."""
    email = ""
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            email = str(body.get("email", ""))
    else:
        email = request.form.get("email", "")
    return f"{request.remote_addr}|{accounts.normalize_email(email)}"


def signin_limit() -> str:
    from flask import current_app

    return current_app.config["RATELIMIT_SIGNIN"]
