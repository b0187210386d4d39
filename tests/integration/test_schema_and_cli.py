"""Migrations agree with the models; the CLI does what the README says, and can run twice."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from app.extensions import db
from app.models import AuditEvent, Organization, User
from app.models.outlet import compared_with_models
from services import audit


def test_migrations_and_models_agree(app):
    """`upgrade` ran on an empty database in the session fixture; nothing may differ."""
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "include_object": compared_with_models})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_upgrade_then_downgrade_then_upgrade_again(tmp_path):
    from flask_migrate import downgrade, upgrade

    from app import create_app

    other = create_app("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'fresh.db'}")
    with other.app_context():
        upgrade()
        downgrade(revision="base")
        upgrade()
        tables = db.session.execute(text(
            "SELECT name FROM sqlite_master WHERE type='table'")).scalars().all()
        assert {"organizations", "users", "audit_events", "divisions"} <= set(tables)
        db.engine.dispose()


def test_setup_is_safe_to_run_twice_and_prints_the_demo_logins(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["setup"])
    assert first.exit_code == 0, first.output
    assert "operator@outletpool.demo" in first.output
    with app.app_context():
        counts = (db.session.query(Organization).count(), db.session.query(User).count())
    second = runner.invoke(args=["setup"])
    assert second.exit_code == 0, second.output
    with app.app_context():
        assert (db.session.query(Organization).count(), db.session.query(User).count()) == counts
        verified = db.session.query(Organization).filter(
            Organization.verification_status == "verified").count()
        assert verified == 4  # operator, maker, provider, certifier; one provider pending


def test_create_operator_command(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-operator", "--email", "ops@example.com",
                                 "--password", "a long operator password"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(args=["create-operator", "--email", "x@example.com", "--password", "short"])
    assert bad.exit_code != 0 and "password" in bad.output


def test_audit_verify_reports_the_first_altered_row(app, make_party):
    make_party("provider")
    make_party("certifier")
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output
    with app.app_context():
        target = db.session.query(AuditEvent).order_by(AuditEvent.id).offset(2).first()
        db.session.execute(text("UPDATE audit_events SET action = 'organization.forged' "
                                "WHERE id = :id"), {"id": target.id})
        db.session.commit()
        target_id = target.id
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert f"entry {target_id}" in broken.output and "altered" in broken.output


def test_audit_verify_detects_a_deleted_row(app, make_party):
    make_party("provider")
    with app.app_context():
        ids = [e.id for e in db.session.query(AuditEvent).order_by(AuditEvent.id)]
        db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
        db.session.commit()
        report = audit.verify_chain()
    assert not report.ok and report.broken.event_id == ids[2]


def test_the_chain_cannot_fork(app, make_party):
    """Two entries may never claim the same predecessor (unique prev_hash)."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    make_party()
    with app.app_context():
        head = db.session.query(AuditEvent).order_by(AuditEvent.id.desc()).first()
        twin = AuditEvent(occurred_at=head.occurred_at, actor_label="x", action="x",
                          subject_type="x", data={}, prev_hash=head.prev_hash, hash="f" * 64)
        db.session.add(twin)
        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_wsgi_import_runs_no_query(monkeypatch):
    """Importing wsgi must not touch the database (gunicorn preloads it)."""
    import importlib
    import sys

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    statements = []

    def count(*args, **kwargs):
        statements.append(args[2] if len(args) > 2 else args)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
        sys.modules.pop("wsgi", None)
        importlib.import_module("wsgi")
    finally:
        event.remove(Engine, "before_cursor_execute", count)
        sys.modules.pop("wsgi", None)
    assert statements == []


def test_healthz_is_503_when_the_database_is_unreachable():
    from app import create_app

    broken = create_app("testing",
                        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none",
                        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 1}})
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error" and response.json["database"].startswith("error")
