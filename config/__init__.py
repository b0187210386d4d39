"""Settings classes, read from the environment.

`create_app()` picks one by `OUTLETPOOL_ENV` (development, testing, production). Every value a
deployment may change comes from an environment variable; nothing secret is committed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("OUTLETPOOL_INSTANCE", BASE_DIR / "instance"))


class ConfigurationError(RuntimeError):
    """The environment does not describe a deployment we are willing to start."""


def normalize_database_url(url: str) -> str:
    """Point plain `postgresql://` URLs at psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class BaseConfig:
    ENV_NAME = "base"
    SQLALCHEMY_DATABASE_URI = normalize_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'outletpool.db'}")
    )
    # Connections are pinged before reuse only after sitting idle (app.extensions).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    SECRET_KEY = os.environ.get("SECRET_KEY")
    REDIS_URL = os.environ.get("REDIS_URL")

    # Locale: Chinese is the platform's first language.
    BABEL_DEFAULT_LOCALE = os.environ.get("DEFAULT_LOCALE", "zh_CN")
    BABEL_DEFAULT_TIMEZONE = "UTC"
    DISPLAY_TIMEZONE = os.environ.get("DISPLAY_TIMEZONE", "Asia/Shanghai")
    LANGUAGES = ("zh_CN", "en")

    # Mail: with no MAIL_SERVER, messages are written to the log (development).
    MAIL_SERVER = os.environ.get("MAIL_SERVER")
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "587"))
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD")
    MAIL_USE_TLS = _bool("MAIL_USE_TLS", True)
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "OutletPool <noreply@outletpool.local>")
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

    # Cookies and sessions.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    FORCE_HTTPS = False

    # Behind a reverse proxy (nginx): how many proxies in front set X-Forwarded-For/-Proto/
    # -Host/-Port/-Prefix. 0 (default) trusts none of those headers, so a client reaching
    # gunicorn directly cannot forge its address; with nginx in front set 1, or rate limits
    # and the audit trail see only the proxy's address.
    TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))

    # Request limits: bodies above this get 413 before any view runs.
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(16 * 1024 * 1024)))
    API_MAX_JSON_BYTES = int(os.environ.get("API_MAX_JSON_BYTES", str(1024 * 1024)))

    # Sign-in throttling (Flask-Limiter); Redis storage when REDIS_URL is set.
    RATELIMIT_ENABLED = True
    RATELIMIT_SIGNIN = os.environ.get("RATELIMIT_SIGNIN", "10 per minute")
    RATELIMIT_HEADERS_ENABLED = True

    # Map tiles: empty means markers on a plain background (works offline). For Tianditu, e.g.
    # https://t{s}.tianditu.gov.cn/vec_w/wmts?...&tk=KEY with MAP_TILE_SUBDOMAINS=01234567.
    MAP_TILE_URL = os.environ.get("MAP_TILE_URL", "")
    MAP_TILE_SUBDOMAINS = os.environ.get("MAP_TILE_SUBDOMAINS", "")
    MAP_TILE_ATTRIBUTION = os.environ.get("MAP_TILE_ATTRIBUTION", "")

    # Answers read from the pool and obligations kept until their data changes: per process
    # (entries; 0 = off) and, with REDIS_URL, shared by all processes (seconds kept in Redis).
    DATA_CACHE_ENTRIES = int(os.environ.get("DATA_CACHE_ENTRIES", "2048"))
    DATA_CACHE_SHARED_TTL = int(os.environ.get("DATA_CACHE_SHARED_TTL", "600"))

    # Evidence files live outside the web root; only the services hand them out.
    UPLOAD_ROOT = os.environ.get("UPLOAD_ROOT", str(INSTANCE_DIR / "uploads"))
    EVIDENCE_MAX_BYTES = int(os.environ.get("EVIDENCE_MAX_BYTES", str(10 * 1024 * 1024)))

    # Certification: public verification throttle, surveillance grace, expiry warning,
    # and how long an application may wait on each side before it is flagged.
    VERIFY_RATELIMIT = os.environ.get("VERIFY_RATELIMIT", "60 per minute")
    CERTIFICATE_SURVEILLANCE_GRACE_DAYS = int(os.environ.get("CERTIFICATE_SURVEILLANCE_GRACE_DAYS", "0"))
    CERTIFICATE_EXPIRY_WARNING_DAYS = int(os.environ.get("CERTIFICATE_EXPIRY_WARNING_DAYS", "60"))
    CERTIFICATION_RESPONSE_DAYS = int(os.environ.get("CERTIFICATION_RESPONSE_DAYS", "10"))
    CERTIFICATION_CORRECTIVE_DAYS = int(os.environ.get("CERTIFICATION_CORRECTIVE_DAYS", "30"))

    # Contracting: how long a request waits for an answer, a version for every signature,
    # how much notice ends an allocation early, and when renewal reminders go out.
    REQUEST_RESPONSE_DAYS = int(os.environ.get("REQUEST_RESPONSE_DAYS", "7"))
    AGREEMENT_SIGNING_DAYS = int(os.environ.get("AGREEMENT_SIGNING_DAYS", "14"))
    AGREEMENT_NOTICE_DAYS = int(os.environ.get("AGREEMENT_NOTICE_DAYS", "90"))
    AGREEMENT_RENEWAL_WINDOW_DAYS = int(os.environ.get("AGREEMENT_RENEWAL_WINDOW_DAYS", "60"))
    IDEMPOTENCY_KEY_MAX_AGE_DAYS = int(os.environ.get("IDEMPOTENCY_KEY_MAX_AGE_DAYS", "7"))

    # Billing: VAT on invoices (6 % for services), the platform's fee on provider revenue,
    # payment terms, and the days overdue at which reminders go out.
    VAT_RATE_PERCENT = os.environ.get("VAT_RATE_PERCENT", "6")
    PLATFORM_FEE_PERCENT = os.environ.get("PLATFORM_FEE_PERCENT", "3")
    INVOICE_PAYMENT_DAYS = int(os.environ.get("INVOICE_PAYMENT_DAYS", "30"))
    INVOICE_REMINDER_DAYS = os.environ.get("INVOICE_REMINDER_DAYS", "1,7,30")
    # Days a manufacturer has to dispute a handling record (tonnes handled) before it is invoiced.
    HANDLING_DISPUTE_DAYS = int(os.environ.get("HANDLING_DISPUTE_DAYS", "14"))
    # Stripe, the second payment provider: without a secret key the card option is hidden.
    # STRIPE_API_BASE points the library elsewhere (e.g. localstripe in tests).
    STRIPE_SECRET_KEY = os.environ.get("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = os.environ.get("STRIPE_PUBLISHABLE_KEY")
    STRIPE_WEBHOOK_SECRET = os.environ.get("STRIPE_WEBHOOK_SECRET")
    STRIPE_API_BASE = os.environ.get("STRIPE_API_BASE")
    # "localstripe" when STRIPE_API_BASE is that emulator: the parameters it refuses
    # (transfer_group, description on a PaymentIntent) are left out. Never set in production.
    STRIPE_EMULATOR = os.environ.get("STRIPE_EMULATOR")

    INVITATION_MAX_AGE_DAYS = 7
    PASSWORD_RESET_MAX_AGE_SECONDS = 3600
    PASSWORD_MIN_LENGTH = 10

    # OpenAPI (flask-smorest). Docs are served by our own page from vendored assets.
    API_TITLE = "OutletPool API"
    API_VERSION = "v1"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api/v1"
    OPENAPI_JSON_PATH = "openapi.json"

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    @classmethod
    def init(cls) -> None:
        """Checks run once, when an app is created with this configuration."""


class DevelopmentConfig(BaseConfig):
    ENV_NAME = "development"

    @classmethod
    def init(cls) -> None:
        if not cls.SECRET_KEY:
            cls.SECRET_KEY = _instance_secret_key()


class TestingConfig(BaseConfig):
    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-secret-key-not-for-production"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = normalize_database_url(
        os.environ.get("TEST_DATABASE_URL", "sqlite://")
    )
    RATELIMIT_SIGNIN = "1000 per minute"
    MAIL_SERVER = None


class ProductionConfig(BaseConfig):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    FORCE_HTTPS = _bool("FORCE_HTTPS", True)
    ALLOW_SQLITE = _bool("OUTLETPOOL_ALLOW_SQLITE", False)

    @classmethod
    def init(cls) -> None:
        if not cls.SECRET_KEY:
            raise ConfigurationError("SECRET_KEY must be set in production.")
        if cls.SQLALCHEMY_DATABASE_URI.startswith("sqlite") and not cls.ALLOW_SQLITE:
            raise ConfigurationError(
                "Production refuses SQLite; set DATABASE_URL to PostgreSQL "
                "or OUTLETPOOL_ALLOW_SQLITE=1 to insist."
            )


def _instance_secret_key() -> str:
    """A per-checkout key kept under instance/, so sessions survive restarts in development."""
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None = None) -> type[BaseConfig]:
    name = name or os.environ.get("OUTLETPOOL_ENV", "development")
    try:
        config = CONFIGS[name]
    except KeyError as exc:
        raise ConfigurationError(f"Unknown OUTLETPOOL_ENV {name!r}; use one of {sorted(CONFIGS)}") from exc
    config.init()
    return config
