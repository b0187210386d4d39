"""Time-driven changes, run by `flask --app wsgi tick` (cron: every 15 minutes is plenty).

Each job takes the current time and changes only what is due at that time, marking what it
did, so running tick twice at the same moment does nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import text

from app.extensions import db

# name -> job(now) -> number of things changed. Capabilities register their jobs here.
JOBS: dict[str, Callable[[datetime], int]] = {}


def job(name: str):
    def register(function: Callable[[datetime], int]):
        JOBS[name] = function
        return function

    return register


# Names the PostgreSQL advisory lock one tick holds until its commit (any constant works).
LOCK_KEY = 0x71C4


class TickAlreadyRunning(RuntimeError):
    """Another tick (on this host or another one sharing the database) holds the lock."""


def run(now: datetime, *, wait: bool = True) -> dict[str, int]:
    """Run every job in registration order; the caller commits once.

    On PostgreSQL the whole run holds a transaction-level advisory lock, so two ticks (two
    hosts' timers, an overlapping cron run) never work side by side: the second waits for the
    first to commit and then finds nothing left to do, or with `wait=False` (the CLI) raises
    TickAlreadyRunning at once, having changed nothing. SQLite serializes writers already.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        if wait:
            db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        elif not db.session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                    {"k": LOCK_KEY}).scalar():
            raise TickAlreadyRunning("another tick is running")
    return {name: function(now) for name, function in JOBS.items()}

from services import agreements as _agreements  # noqa: E402, F401  (registers its jobs)
from services import capacity_requests as _capacity_requests  # noqa: E402, F401  (registers its jobs)
from services import certificates as _certificates  # noqa: E402, F401  (registers its jobs)
from services import certification as _certification  # noqa: E402, F401  (registers its jobs)
from services import filings as _filings  # noqa: E402, F401  (registers its jobs)
from services import idempotency as _idempotency  # noqa: E402, F401  (registers its jobs)
from services import invoices as _invoices  # noqa: E402, F401  (registers its jobs)
from services.payments import stripe_provider as _stripe_provider  # noqa: E402, F401  (registers its jobs)
