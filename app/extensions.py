"""Flask extensions, created unbound and initialised in `create_app`."""

import re
import sqlite3
import time

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf import CSRFProtect
from psycopg import ServerCursor
from psycopg.pq import TransactionStatus
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class ViewLimiter(Limiter):
    """Flask-Limiter with every limit declared on its view (sign-in, certificate verification),
    whose decorator checks it. The extension's before-request hook looks for default,
    application-wide and blueprint limits on every request as well; there are none here, and the
    look cost ~0.1 ms a request, a tenth of a trivial one. Declaring such a limit is refused."""

    def init_app(self, app) -> None:
        super().init_app(app)
        if self.limit_manager.default_limits or self.limit_manager.application_limits:
            raise RuntimeError("declare rate limits on their views: ViewLimiter checks no others")

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if not in_middleware:  # the hook passes True; a view's decorator passes False
            super()._check_request_limit(callable_name, in_middleware)


limiter = ViewLimiter(key_func=get_remote_address)
talisman = Talisman()
api = Api()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    """SQLite as the embedded default: enforce foreign keys as PostgreSQL does, let readers
    run beside a writer (WAL), wait for a busy writer instead of failing, cache more pages."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA cache_size=-16384")  # 16 MiB a connection; the OS caches the file for all
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@event.listens_for(Engine, "savepoint")
def _sqlite_savepoint_inside_a_transaction(conn, _name):
    """pysqlite opens a transaction only before a write, so a SAVEPOINT issued first ran in
    autocommit mode and its RELEASE committed at once (an idempotency key or a certificate
    number outliving the action that failed after it); open the transaction first."""
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, sqlite3.Connection) and not dbapi_connection.in_transaction:
        dbapi_connection.execute("BEGIN")


# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_BEFORE_PING_S = 1.0


@event.listens_for(Pool, "connect")
@event.listens_for(Pool, "checkin")
def _idle_from_now(_dbapi_connection, record):
    if record is not None:
        record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, record, _proxy):
    """pool_pre_ping, for connections that sat idle. Pinging at every checkout was a round
    trip per request, 9 % of request time under load. A connection used a moment ago is as
    alive as a ping would show; if the server went away since, the first statement fails, the
    request answers 503 (app.errors) and SQLAlchemy drops every pooled connection at once.
    Raising DisconnectionError makes the pool replace the connection and try again.

    Every PostgreSQL connection leaves the pool in autocommit mode: see
    _transaction_from_the_first_write."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        return
    if dbapi_connection.info.transaction_status == TransactionStatus.IDLE:
        dbapi_connection.autocommit = True
    if time.monotonic() - record.info.get("idle_since", 0.0) < IDLE_BEFORE_PING_S:
        return
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as error:
        raise DisconnectionError(f"pooled connection failed its ping: {error}") from error


# A statement that takes a lock (row locks, advisory locks) must run in the transaction that
# holds it until commit; so must anything that is not a plain read.
_LOCKING_READ = re.compile(r"\bFOR\s+(?:NO\s+KEY\s+)?(?:UPDATE|SHARE)\b|\bFOR\s+KEY\s+SHARE\b|advisory",
                           re.IGNORECASE)


@event.listens_for(Engine, "before_cursor_execute")
def _transaction_from_the_first_write(conn, cursor, statement, _parameters, _context, _many):
    """PostgreSQL: plain reads run in autocommit, and the transaction opens at the first
    statement that writes or locks (as Django does). Under READ COMMITTED each statement sees
    the latest commits whether or not a transaction is open, so a read answers the same; but a
    read-only request no longer pays a BEGIN and a ROLLBACK, two of its five or six round trips
    to the server, a third of its time under load. Writes stay one transaction with the reads
    and locks that follow the first of them, committed or rolled back together."""
    dbapi_connection = conn.connection.dbapi_connection
    if isinstance(dbapi_connection, sqlite3.Connection) or not dbapi_connection.autocommit:
        return
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return  # asked for by the caller (VACUUM, CREATE DATABASE): no transaction at all
    if (statement.lstrip()[:6].upper() == "SELECT" and not _LOCKING_READ.search(statement)
            and not isinstance(cursor, ServerCursor)):  # a named cursor lives in a transaction
        return
    dbapi_connection.autocommit = False
