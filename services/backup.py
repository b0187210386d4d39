"""Backups: the database and the evidence files in one archive, and putting them back.

One archive (`outletpool-backup-<UTC time>.tar`) holds
  manifest.json       when, which database kind, the schema revision, each part's SHA-256
  database.pgdump     PostgreSQL: `pg_dump --format=custom` (compressed, restorable table by table)
  database.sqlite3    SQLite: a consistent copy made with SQLite's online backup API
  uploads/...         every file under UPLOAD_ROOT (photos and PDFs, stored as they are)

PostgreSQL is dumped and restored with the client programs of the server's own major version
(`/usr/lib/postgresql/<major>/bin`, or PG_BIN_DIR): an older pg_dump refuses a newer server.
A restore replaces everything: the database schema is dropped and recreated from the dump in
one transaction (a failed restore leaves the database as it was), and UPLOAD_ROOT is swapped
for the archive's files, the previous directory kept beside it. Stop the app servers and the
tick first. Plain values in, plain values out: the CLI (`flask backup ...`) passes the settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

FORMAT = 1


class BackupError(RuntimeError):
    """A backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    dialect: str
    database_bytes: int
    upload_files: int
    revision: str | None


@dataclass(frozen=True)
class RestoreReport:
    dialect: str
    created_at: str
    revision: str | None
    upload_files: int
    previous_uploads: Path | None


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL as libpq takes it (no `+psycopg` driver suffix)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def sqlite_path(url: str) -> Path:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(path)


def dialect_of(url: str) -> str:
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith(("postgres://", "postgresql")):
        return "postgresql"
    raise BackupError(f"unsupported database URL scheme: {urlsplit(url).scheme}")


def server_major(url: str) -> int:
    import psycopg

    with psycopg.connect(libpq_url(url), connect_timeout=10) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000


def pg_program(name: str, major: int) -> str:
    """`name` (pg_dump, pg_restore, psql) of the server's major version, or a newer one."""
    candidates = [os.environ.get("PG_BIN_DIR"), f"/usr/lib/postgresql/{major}/bin"]
    for directory in filter(None, candidates):
        program = Path(directory) / name
        if program.exists():
            return str(program)
    program = shutil.which(name)
    if program is None:
        raise BackupError(f"{name} not found; install the PostgreSQL {major} client programs "
                          "or set PG_BIN_DIR")
    version = subprocess.run([program, "--version"], capture_output=True, text=True).stdout  # noqa: S603
    found = re.search(r"(\d+)(?:\.\d+)?", version)
    if found is None or int(found.group(1)) < major:
        raise BackupError(f"{program} is {version.strip()!r}, older than the server ({major}); "
                          "install the matching client programs or set PG_BIN_DIR")
    return program


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, **kwargs)  # noqa: S603  (our own argv, no shell)
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace") if isinstance(result.stderr, bytes) \
            else result.stderr
        raise BackupError(f"{Path(command[0]).name} failed: {stderr.strip()[-2000:]}")
    return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _revision(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    from config import normalize_database_url

    engine = create_engine(normalize_database_url(url))
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # no schema yet: a backup of an empty database
        return None
    finally:
        engine.dispose()


def create(database_url: str, upload_root: Path, to_dir: Path, *,
           now: datetime | None = None) -> BackupReport:
    """Write one archive into `to_dir`; return where it is and what it holds."""
    dialect = dialect_of(database_url)
    now = now or datetime.now(UTC)
    to_dir.mkdir(parents=True, exist_ok=True)
    target = to_dir / f"outletpool-backup-{now:%Y%m%dT%H%M%S%fZ}.tar"
    with tempfile.TemporaryDirectory(prefix="outletpool-backup-", dir=to_dir) as work:
        work_dir = Path(work)
        if dialect == "postgresql":
            dump = work_dir / "database.pgdump"
            program = pg_program("pg_dump", server_major(database_url))
            _run([program, "--format=custom", "--no-owner", "--no-privileges",
                  f"--file={dump}", f"--dbname={libpq_url(database_url)}"])
        else:
            dump = work_dir / "database.sqlite3"
            source = sqlite3.connect(sqlite_path(database_url))
            copy = sqlite3.connect(dump)
            try:
                source.backup(copy)  # a consistent snapshot while writers carry on
            finally:
                copy.close()
                source.close()
        files = sorted(p for p in upload_root.rglob("*") if p.is_file()) if upload_root.exists() else []
        manifest = {
            "format": FORMAT, "created_at": now.isoformat(), "dialect": dialect,
            "revision": _revision(database_url), "database": dump.name,
            "database_sha256": _sha256(dump), "upload_files": len(files),
        }
        (work_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
        partial = target.with_suffix(".tar.partial")
        with tarfile.open(partial, "w") as archive:
            archive.add(work_dir / "manifest.json", arcname="manifest.json")
            archive.add(dump, arcname=dump.name)
            for path in files:
                archive.add(path, arcname="uploads/" + path.relative_to(upload_root).as_posix())
        partial.rename(target)  # a half-written archive never carries the final name
        return BackupReport(target, dialect, dump.stat().st_size, len(files), manifest["revision"])


def restore(archive_path: Path, database_url: str, upload_root: Path) -> RestoreReport:
    """Replace the database and UPLOAD_ROOT with the archive's contents."""
    dialect = dialect_of(database_url)
    with tempfile.TemporaryDirectory(prefix="outletpool-restore-") as work:
        work_dir = Path(work)
        try:
            with tarfile.open(archive_path) as archive:
                archive.extractall(work_dir, filter="data")
            manifest = json.loads((work_dir / "manifest.json").read_text())
        except (OSError, tarfile.TarError, ValueError, KeyError) as exc:
            raise BackupError(f"{archive_path} is not an OutletPool backup: {exc}") from exc
        if manifest.get("dialect") != dialect:
            raise BackupError(f"the backup is of a {manifest.get('dialect')} database; "
                              f"DATABASE_URL is {dialect}")
        dump = work_dir / manifest["database"]
        if _sha256(dump) != manifest["database_sha256"]:
            raise BackupError("the database dump does not match its checksum: the archive is damaged")
        if dialect == "postgresql":
            _restore_postgresql(dump, database_url)
        else:
            _restore_sqlite(dump, sqlite_path(database_url))
        previous = _swap_uploads(work_dir / "uploads", upload_root)
        restored = sum(1 for p in upload_root.rglob("*") if p.is_file()) if upload_root.exists() else 0
        return RestoreReport(dialect, manifest["created_at"], manifest.get("revision"), restored,
                             previous)


def _restore_postgresql(dump: Path, database_url: str) -> None:
    """Drop and recreate the public schema and load the dump, all in one transaction."""
    major = server_major(database_url)
    script = _run([pg_program("pg_restore", major), "--no-owner", "--no-privileges",
                   "--file=-", str(dump)]).stdout
    preamble = b"DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
    # A dump carries no planner statistics: until autovacuum gets round to the restored tables
    # (never, where it is off), every query would be planned on guesses.
    statistics = b"\nANALYZE;\n"
    _run([pg_program("psql", major), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1",
          "--single-transaction", f"--dbname={libpq_url(database_url)}"],
         input=preamble + script + statistics)


def _restore_sqlite(dump: Path, target: Path) -> None:
    """Copy the snapshot page by page into the live file (SQLite's backup API, which locks
    the target for the copy: readers see the old or the new database, never a mix)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(dump)
    live = sqlite3.connect(target, timeout=30)
    try:
        source.backup(live)
    finally:
        live.close()
        source.close()


def _swap_uploads(restored: Path, upload_root: Path) -> Path | None:
    """Put the archive's files at UPLOAD_ROOT; keep what was there as UPLOAD_ROOT.before-<time>."""
    staging = upload_root.parent / f".{upload_root.name}.restoring"
    shutil.rmtree(staging, ignore_errors=True)
    upload_root.parent.mkdir(parents=True, exist_ok=True)
    if restored.exists():
        shutil.copytree(restored, staging)
    else:
        staging.mkdir()
    previous = None
    if upload_root.exists():
        previous = upload_root.parent / f"{upload_root.name}.before-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        upload_root.rename(previous)
    staging.rename(upload_root)
    return previous
