"""`flask backup create` / `flask backup restore`: what was backed up comes back, exactly.

Runs on a scratch database of its own: PostgreSQL (created beside TEST_DATABASE_URL and
dropped after) when that is set, an SQLite file otherwise.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import text

from app.extensions import db
from app.models import AuditEvent, Evidence, Organization, Outlet
from services import accounts, audit, evidence, organizations, reference_data
from services.audit import Actor
from tests.integration.conftest import PASSWORD, org_payload


@pytest.fixture
def scratch(tmp_path):
    """An app on an empty database of its own, migrated, with reference data."""
    from flask_migrate import upgrade

    from app import create_app
    from services import divisions
    from tests.conftest import postgres_database

    base = os.environ.get("TEST_DATABASE_URL")
    if base and base.startswith(("postgres://", "postgresql")):
        url, drop = postgres_database(base, prefix="outletpool_backup")
    else:
        url, drop = f"sqlite:///{tmp_path / 'live.db'}", (lambda: None)
    uploads = tmp_path / "uploads"
    scratch_app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, UPLOAD_ROOT=str(uploads))
    with scratch_app.app_context():
        upgrade()
        reference_data.load_all()
        db.session.commit()
        divisions.reset_cache()
    try:
        yield scratch_app
    finally:
        with scratch_app.app_context():
            db.engine.dispose()
        drop()


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 120, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def _world(app) -> dict:
    """A verified provider with an outlet and one evidence file: an audit chain of several links."""
    payload = org_payload("provider", sequence=4242, email="owner@backup.example")
    with app.app_context():
        organization, user = accounts.signup(payload["organization"], payload["user"])
        operator = accounts.create_operator("ops@backup.example", PASSWORD)
        organizations.set_verification(Actor(user=operator), organization.id, "verified")
        outlet = Outlet(
            provider_id=organization.id, name="备份测试网点", address="深圳市宝安区福永街道1号",
            province_code="440000", city_code="440300", district_code="440306", lat=22.67,
            lon=113.82, type="collection", storage_area_m2=40, max_stored_weight_t=5,
            annual_capacity_t=300, chemistries=["LFP"], safety_classes=["A"],
            establishment="self_built", status="draft", compliant=False, certified=False,
            available_capacity_t=0, annual_fee_fen=0, handling_fee_fen_per_t=0,
            search_text="备份测试网点")
        db.session.add(outlet)
        db.session.flush()
        photo = _png()
        stored = evidence.add(Actor(user=user), outlet, photo, "site.png",
                              storage_root=Path(app.config["UPLOAD_ROOT"]), max_bytes=10 << 20)
        db.session.commit()
        stored_at = evidence.path_of(stored, Path(app.config["UPLOAD_ROOT"]))
        return {"organization_id": organization.id, "legal_name": organization.legal_name,
                "outlet_id": outlet.id, "evidence_path": stored_at,
                "photo": photo, "audit_events": db.session.query(AuditEvent).count()}


def test_a_backup_brings_back_the_database_the_evidence_files_and_an_intact_audit_chain(
        scratch, tmp_path):
    world = _world(scratch)
    assert world["audit_events"] >= 3
    runner = scratch.test_cli_runner()

    made = runner.invoke(args=["backup", "create", "--to", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    archives = list((tmp_path / "backups").glob("outletpool-backup-*.tar"))
    assert len(archives) == 1 and "backup written" in made.output
    with tarfile.open(archives[0]) as archive:
        names = archive.getnames()
    assert "manifest.json" in names and any(n.startswith("uploads/") for n in names)

    # Disaster: a renamed organization, a deleted outlet, a forged audit row, a lost file,
    # and a row that was not there when the backup was made.
    with scratch.app_context():
        db.session.execute(text("UPDATE organizations SET legal_name = 'tampered' WHERE id = :i"),
                           {"i": world["organization_id"]})
        db.session.execute(text("DELETE FROM evidence"))
        db.session.execute(text("DELETE FROM outlets"))
        db.session.execute(text("UPDATE audit_events SET action = 'forged' "
                                "WHERE id = (SELECT MIN(id) FROM audit_events)"))
        later = org_payload("manufacturer", sequence=4343, email="late@backup.example")
        accounts.signup(later["organization"], later["user"])
        db.session.commit()
        assert not audit.verify_chain().ok
    world["evidence_path"].unlink()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1

    restored = runner.invoke(args=["backup", "restore", str(archives[0]), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "restored the" in restored.output

    with scratch.app_context():
        organization = db.session.get(Organization, world["organization_id"])
        assert organization.legal_name == world["legal_name"]
        assert db.session.get(Outlet, world["outlet_id"]).name == "备份测试网点"
        assert db.session.query(Evidence).count() == 1
        assert db.session.query(Organization).filter(
            Organization.credit_code == later["organization"]["credit_code"]).count() == 0
        assert db.session.query(AuditEvent).count() == world["audit_events"]
        # New rows after the restore still get fresh ids (sequences came back too).
        again = org_payload("manufacturer", sequence=4444, email="after@backup.example")
        accounts.signup(again["organization"], again["user"])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":  # a dump has no planner statistics: restore makes them
            analyzed = set(db.session.scalars(text(
                "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'")))
            assert {"organizations", "audit_events"} <= analyzed
    assert world["evidence_path"].read_bytes() == world["photo"]
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and "intact" in verified.output, verified.output


def test_restore_refuses_a_damaged_archive_and_changes_nothing(scratch, tmp_path):
    world = _world(scratch)
    runner = scratch.test_cli_runner()
    assert runner.invoke(args=["backup", "create", "--to", str(tmp_path)]).exit_code == 0
    archive = next(tmp_path.glob("outletpool-backup-*.tar"))
    damaged = tmp_path / "damaged.tar"
    with tarfile.open(archive) as source, tarfile.open(damaged, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None
            if member.name.startswith("database."):
                data = data[: len(data) // 2]
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)

    refused = runner.invoke(args=["backup", "restore", str(damaged), "--yes"])
    assert refused.exit_code != 0 and "checksum" in refused.output
    with scratch.app_context():
        assert db.session.get(Outlet, world["outlet_id"]) is not None
    assert world["evidence_path"].read_bytes() == world["photo"]
