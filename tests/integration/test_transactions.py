"""PostgreSQL: plain reads run in autocommit; the transaction opens at the first statement that
writes or locks, and everything from there commits or rolls back together
(app.extensions._transaction_from_the_first_write)."""

from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import DataVersion, Organization


@pytest.fixture
def session(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("autocommit reads are a PostgreSQL matter")
    with app.app_context():
        yield db.session
        db.session.rollback()


def status(session) -> TransactionStatus:
    return session.connection().connection.dbapi_connection.info.transaction_status


def test_a_plain_read_opens_no_transaction(session):
    session.execute(select(func.count()).select_from(Organization))
    session.execute(select(DataVersion.token).where(DataVersion.scope == "pool"))
    assert status(session) is TransactionStatus.IDLE


@pytest.mark.parametrize("statement", [
    select(DataVersion).where(DataVersion.scope == "pool").with_for_update(),
    select(DataVersion).where(DataVersion.scope == "pool").with_for_update(read=True),
    text("SELECT pg_advisory_xact_lock(4242)"),
    text("SELECT pg_try_advisory_xact_lock(4242)"),
])
def test_a_locking_read_opens_the_transaction_that_holds_the_lock(session, statement):
    session.execute(select(func.count()).select_from(Organization))
    session.execute(statement)
    assert status(session) is TransactionStatus.INTRANS


def test_reads_writes_and_locks_after_the_first_write_roll_back_together(session):
    before = session.scalar(select(DataVersion.token).where(DataVersion.scope == "pool"))
    session.execute(DataVersion.__table__.update().where(DataVersion.scope == "pool")
                    .values(token=before + 1))
    assert status(session) is TransactionStatus.INTRANS
    session.execute(DataVersion.__table__.update().where(DataVersion.scope == "obligations")
                    .values(token=7))
    assert session.scalar(select(DataVersion.token).where(DataVersion.scope == "pool")) == before + 1
    session.rollback()
    assert session.scalar(select(DataVersion.token).where(DataVersion.scope == "pool")) == before
    assert session.scalar(select(DataVersion.token).where(DataVersion.scope == "obligations")) != 7
    assert status(session) is TransactionStatus.IDLE  # the connection went back to autocommit


def test_a_savepoint_first_opens_the_transaction(session):
    with session.begin_nested():
        session.execute(select(func.count()).select_from(Organization))
    assert status(session) is TransactionStatus.INTRANS


def test_a_connection_asked_for_autocommit_stays_without_a_transaction(session):
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE divisions")  # refused inside a transaction block
