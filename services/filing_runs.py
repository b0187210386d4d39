"""An operator generates every verified maker's filing in one run, with its progress kept in
the run's row, and downloads them all as one archive.

`start()` records the run (queued). The boundary then either executes it inline (no REDIS_URL:
the request waits) or hands it to a background thread (REDIS_URL set), which takes a Redis lock
so only one run executes on the platform at a time, whichever worker started it. `execute()`
generates one maker's filing at a time and commits after each through the `commit` callback it
is given, so progress is visible to other requests as it goes and a failure keeps what was done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import FilingRun, Organization, OrgKind, RunStatus, VerificationStatus
from app.models.types import utcnow
from services import audit, filings, notifications, permissions
from services.audit import Actor
from services.certifiers import china_today
from services.errors import Conflict, NotFound

SUBJECT = "filing_run"
RUNNER = Actor(label="filing-run")
LOCK_KEY = "outletpool:filing-run"
LOCK_SECONDS = 3600


def makers() -> list[int]:
    return list(db.session.execute(select(Organization.id).where(
        Organization.kind == OrgKind.MANUFACTURER,
        Organization.verification_status == VerificationStatus.VERIFIED).order_by(Organization.id)
    ).scalars())


def start(actor: Actor, as_of=None, *, mode: str = "inline", now: datetime | None = None) -> FilingRun:
    now = now or utcnow()
    permissions.require_operator(actor.user, "contracts.moderate")
    day = china_today(now) if as_of in (None, "") else filings._parse_date(as_of, "as_of")
    busy = db.session.execute(select(FilingRun.id).where(
        FilingRun.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))).first()
    if busy is not None:
        raise Conflict(_l("A filing run is already in progress (run %(id)s).", id=busy[0]))
    run = FilingRun(as_of=day, status=RunStatus.QUEUED, total=len(makers()), done=0, mode=mode,
                    started_by_id=actor.user_id, created_at=now)
    db.session.add(run)
    db.session.flush()
    audit.record(actor, "filing_run.started", SUBJECT, run.id,
                 data={"as_of": day.isoformat(), "total": run.total, "mode": mode})
    return run


def get(actor: Actor, run_id: int) -> FilingRun:
    permissions.require_operator(actor.user, "contracts.moderate")
    run = db.session.get(FilingRun, run_id)
    if run is None:
        raise NotFound("filing run", run_id)
    return run


def list_runs(actor: Actor, limit: int = 20) -> list[FilingRun]:
    permissions.require_operator(actor.user, "contracts.moderate")
    return list(db.session.execute(select(FilingRun).order_by(FilingRun.id.desc()).limit(limit)).scalars())


def execute(run_id: int, commit: Callable[[], None], now: Callable[[], datetime] = utcnow) -> FilingRun:
    """Generate every maker's filing for the run, committing after each one."""
    run = db.session.get(FilingRun, run_id)
    if run is None or run.status is not RunStatus.QUEUED:
        return run
    run.status = RunStatus.RUNNING
    ids = makers()
    run.total = len(ids)
    commit()
    as_of: date = run.as_of
    try:
        for maker_id in ids:
            maker = db.session.get(Organization, maker_id)
            filings.generate(RUNNER, maker, as_of, run_id=run.id, now=now())
            run.done += 1
            commit()
        run.status = RunStatus.DONE
    except Exception as error:  # the run records why it stopped; what was done stays
        db.session.rollback()
        run = db.session.get(FilingRun, run_id)
        run.status, run.error = RunStatus.FAILED, f"{type(error).__name__}: {error}"[:2000]
    run.finished_at = now()
    audit.record(RUNNER, "filing_run.finished", SUBJECT, run.id,
                 data={"status": run.status.value, "done": run.done, "total": run.total})
    operator = permissions_operator_id()
    if operator is not None:
        notifications.notify([operator], "filing.run_done",
                             {"done": run.done, "total": run.total, "as_of": as_of.isoformat(),
                              "error": run.error or ""}, link=f"/operator/filings/{run.id}")
    commit()
    return run


def permissions_operator_id() -> int | None:
    return db.session.execute(select(Organization.id).where(
        Organization.kind == OrgKind.OPERATOR).order_by(Organization.id).limit(1)).scalar()


def run_in_background(app, run_id: int):
    """Execute the run in a daemon thread of this process, holding the platform-wide Redis
    lock while it runs (REDIS_URL). Returns the thread (tests join it)."""
    import threading

    import redis

    client = redis.Redis.from_url(app.config["REDIS_URL"])

    def work():
        with app.app_context():
            lock = client.lock(LOCK_KEY, timeout=LOCK_SECONDS, blocking_timeout=LOCK_SECONDS)
            if not lock.acquire():
                return
            try:
                execute(run_id, db.session.commit)
            finally:
                db.session.remove()
                with contextlib.suppress(Exception):  # an expired lock released itself
                    lock.release()

    thread = threading.Thread(target=work, name=f"filing-run-{run_id}", daemon=True)
    thread.start()
    return thread
