"""Command-line entry points: `flask --app wsgi <command>`. Each command is one transaction."""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from app.extensions import db
from services import accounts, audit, demo, reference_data
from services.errors import ServiceError

audit_cli = AppGroup("audit", help="The append-only audit log.")


@audit_cli.command("verify")
def audit_verify():
    """Recompute the hash chain; report the first broken link."""
    report = audit.verify_chain()
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} entries checked")
        return
    click.echo(f"audit chain BROKEN at entry {report.broken.event_id}: {report.broken.reason} "
               f"({report.checked} entries checked)", err=True)
    sys.exit(1)


@click.command("create-db")
@with_appcontext
def create_db():
    """Create or upgrade the schema (Alembic migrations)."""
    from flask_migrate import upgrade

    upgrade()
    click.echo("database schema is up to date")


@click.command("load-reference")
@with_appcontext
def load_reference():
    """Load divisions, regions, rule sets and the checklist (idempotent)."""
    counts = reference_data.load_all()
    db.session.commit()
    click.echo("reference data loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@click.command("create-operator")
@with_appcontext
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--name", default="Operator")
def create_operator(email: str, password: str, name: str):
    """Create a platform operator account (or add an existing user to the operators)."""
    try:
        user = accounts.create_operator(email, password, name)
        db.session.commit()
    except ServiceError as error:
        db.session.rollback()
        details = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in error.fields.items())
        raise click.ClickException(f"{error.message} {details}".strip()) from error
    click.echo(f"operator {user.email} ready")


@click.command("seed-demo-accounts")
@with_appcontext
def seed_demo_accounts():
    """Demo organizations and one login per role (idempotent)."""
    logins = demo.create_demo_accounts()
    db.session.commit()
    for login in logins:
        click.echo(f"  {login.role:<13} {login.email:<28} {login.password}")


@click.command("setup")
@with_appcontext
def setup():
    """Everything `make run` needs: schema, reference data, demo accounts. Safe to re-run."""
    from flask_migrate import upgrade

    upgrade()
    counts = reference_data.load_all()
    db.session.commit()
    click.echo("reference data: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    logins = demo.create_demo_accounts()
    db.session.commit()
    click.echo("demo logins:")
    for login in logins:
        click.echo(f"  {login.role:<13} {login.email:<28} {login.password}")


@click.command("seed-demo")
@with_appcontext
@click.option("--seed", "seed_value", default=2022, show_default=True, type=int,
              help="Random seed; the same seed gives the same pool.")
@click.option("--outlets", "outlet_count", default=10257, show_default=True,
              type=click.IntRange(min=31, max=200_000), help="How many outlets to generate.")
def seed_demo(seed_value: int, outlet_count: int):
    """A national demo pool calibrated to the Sept 2022 survey (idempotent: skips if present)."""
    import time

    from services import demo_contracts, demo_pool, demo_sales

    started = time.perf_counter()
    report = demo_pool.seed(seed_value, outlet_count)
    db.session.commit()
    certified = demo.certify_demo_outlets()
    db.session.commit()
    if certified:
        click.echo("demo certificates: " + ", ".join(certified))
    sales = demo_sales.seed_sales(seed_value)
    db.session.commit()
    if sales.skipped:
        click.echo("demo sales already present: nothing to do")
    else:
        click.echo(f"demo sales: {sales.manufacturers} manufacturers, {sales.records} records in "
                   f"{sales.cities} cities; demo maker {sales.demo_maker_records} records")
    contracts = demo_contracts.seed_contracts()
    db.session.commit()
    if contracts.skipped:
        click.echo("demo contracts already present (or no demo logins): nothing to do")
    else:
        click.echo(f"demo contracts: active {contracts.active}, awaiting the maker's signature "
                   f"{contracts.awaiting_signature or '-'}, open request "
                   f"{contracts.open_request or '-'}; outlets left free for a new request: "
                   f"{', '.join(map(str, contracts.free_outlets))}")
    if report.skipped:
        click.echo("demo pool already present: nothing to do")
        return
    demo.refresh_planner_statistics()
    db.session.commit()
    figures = report.figures
    click.echo(f"demo pool: {report.outlets} outlets of {report.organizations} organizations, "
               f"{report.listed} listed, {report.offers} capacity offers "
               f"({time.perf_counter() - started:.1f} s)")
    click.echo(f"  provinces {figures['provinces']}, prefecture-level regions "
               f"{figures['prefecture_regions']}, Guangdong {figures['guangdong']}, "
               f"top 10 provinces {figures['top10_provinces']}, co-built {figures['co_built']}, "
               f"top 20 firms {figures['top20_firms']}, compliant {figures['compliant']}")


@click.command("tick")
@click.option("--now", "now_text", default=None,
              help="Run as if it were this moment (ISO 8601, UTC if no offset); for tests and replays.")
@with_appcontext
def tick(now_text: str | None):
    """Run the time-driven jobs (expiries, due audits, deadline flags). Safe to repeat."""
    from datetime import UTC, datetime

    from services import tick as ticking

    now = datetime.fromisoformat(now_text) if now_text else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        results = ticking.run(now, wait=False)  # an overlapping run (cron, another host) skips
    except ticking.TickAlreadyRunning:
        db.session.rollback()
        click.echo(f"tick at {now.isoformat()}: skipped, another tick is running")
        return
    db.session.commit()
    click.echo(f"tick at {now.isoformat()}: "
               + (", ".join(f"{k}={v}" for k, v in results.items()) or "no jobs"))


backup_cli = AppGroup("backup", help="Back up and restore the database and the evidence files.")


@backup_cli.command("create")
@click.option("--to", "to_dir", required=True, type=click.Path(file_okay=False),
              help="Directory the archive is written into.")
def backup_create(to_dir: str):
    """Write one archive: pg_dump (custom format) or an SQLite snapshot, plus UPLOAD_ROOT."""
    from pathlib import Path

    from flask import current_app

    from services import backup

    try:
        report = backup.create(current_app.config["SQLALCHEMY_DATABASE_URI"],
                               Path(current_app.config["UPLOAD_ROOT"]), Path(to_dir))
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"backup written: {report.path} ({report.dialect}, database "
               f"{report.database_bytes:,} bytes, {report.upload_files} evidence files, "
               f"schema revision {report.revision})")


@backup_cli.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def backup_restore(archive: str, yes: bool):
    """Replace the database and UPLOAD_ROOT with ARCHIVE. Stop the app servers and tick first."""
    from pathlib import Path

    from flask import current_app

    from services import backup

    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    if not yes:
        click.confirm(f"Replace everything in {url.rsplit('@', 1)[-1]} and "
                      f"{current_app.config['UPLOAD_ROOT']} with {archive}?", abort=True)
    db.session.remove()
    db.engine.dispose()  # our own pooled connections would block dropping the schema
    try:
        report = backup.restore(Path(archive), url, Path(current_app.config["UPLOAD_ROOT"]))
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"restored the {report.dialect} backup of {report.created_at} (schema revision "
               f"{report.revision}, {report.upload_files} evidence files)"
               + (f"; the previous evidence files are kept in {report.previous_uploads}"
                  if report.previous_uploads else "")
               + ". Run `flask db upgrade` if this code is newer, then `flask audit verify`.")


def init_app(app: Flask) -> None:
    for command in (create_db, load_reference, create_operator, seed_demo_accounts, setup,
                    seed_demo, tick):
        app.cli.add_command(command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(backup_cli)
