"""Schemathesis fuzzes every operation of /api/v1/openapi.json as each role, against the WSGI app.

What must hold for any request, valid or not: no 5xx, and every answer (success or error) has a
status the operation documents and a body matching the documented schema. The world is the filing
scenario (makers, a provider, outlets, signed agreements, certificates) plus a certifier, so
path ids often name real rows; the other half of the examples use generated ids.

Budget: a fixed number of examples per operation, role and mode (positive data, then data
that breaks the schema), derandomized so a run is repeatable; about 1–2 minutes on SQLite. It runs
in both database stages: the 5xx it exists to find are as often PostgreSQL's (strict types,
integer overflow, NUL bytes in text) as ours, and it costs about as much as one more test file.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.integration import filing_scenario as fs

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
ROLES = ("manufacturer", "provider", "certifier", "operator")


@pytest.fixture
def world(app, make_party):
    """Parties with tokens and the ids of real rows, built and left (requests must not run in
    the test's app context)."""
    from app.extensions import db
    from app.models import (
        Agreement,
        AgreementVersion,
        Allocation,
        Certificate,
        Notification,
        Organization,
        Outlet,
        User,
    )
    from services import accounts

    with app.app_context():
        sc = fs.build(make_party)
        certifier = make_party("certifier")
        parties = {"manufacturer": sc.maker_a, "provider": sc.provider, "certifier": certifier,
                   "operator": sc.operator}
        for party in parties.values():
            if party.token is None:
                party.token = accounts.create_token(db.session.get(User, party.user_id), "fuzz")[1]
        db.session.commit()

        def ids(model, column="id"):
            return sorted(db.session.execute(db.select(getattr(model, column))).scalars())[:3]

        real = {
            "organization_id": ids(Organization), "outlet_id": ids(Outlet),
            "agreement_id": ids(Agreement), "allocation_id": ids(Allocation),
            "number": ids(Certificate, "number") + ids(AgreementVersion, "version"),
            "notification_id": ids(Notification), "user_id": ids(User),
            "item_number": [1, 24],
        }
    return parties, {name: values for name, values in real.items() if values}


def _path_parameters(operation, real):
    """Either real ids for every path parameter we know, or (empty) generated ones."""
    names = [p.name for p in operation.path_parameters]
    known = [n for n in names if n in real]
    if not known:
        return st.just({})
    chosen = st.fixed_dictionaries({n: st.sampled_from(real[n]) for n in known})
    return st.one_of(st.just({}), chosen)


def _describe(case, response, error) -> str:
    sent = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.200}"
    if isinstance(error, BaseExceptionGroup):  # schemathesis' failed checks
        status = response.status_code if response is not None else "?"
        lines = [f"{f.title}: {' '.join(f.message.split())[:300]}" for f in error.exceptions]
        return f"{sent}\n  -> {status} " + "\n  ".join(lines)
    # TESTING propagates the app's exceptions: show where it raised in our code
    ours = [frame for frame in traceback.extract_tb(error.__traceback__)
            if "/site-packages/" not in frame.filename]
    where = ", ".join(f"{frame.filename.rsplit('/work/main/', 1)[-1]}:{frame.lineno}" for frame in ours[-3:])
    return f"{sent}\n  -> raised {type(error).__name__}: {str(error)[:300]} at {where}"


def _fuzz(operation, mode, headers, real, findings):
    strategy = _path_parameters(operation, real).flatmap(
        lambda fixed: operation.as_strategy(generation_mode=mode, path_parameters=fixed or None))

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=strategy)
    def run(case):
        key = (operation.label, mode.value)
        if key in findings:
            return  # one report per operation and mode is enough
        response = None
        try:
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:  # a failed check, or the app raised
            findings[key] = _describe(case, response, error)

    # Unsatisfiable: nothing to negate, an operation without parameters or body has no invalid form
    with contextlib.suppress(Unsatisfiable):
        run()


@pytest.mark.parametrize("role", ROLES)
def test_no_server_errors_and_answers_match_the_schema(app, world, role):
    parties, real = world
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = parties[role].headers
    findings: dict = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            started = time.perf_counter()
            _fuzz(operation, mode, headers, real, findings)
            if os.environ.get("FUZZ_TIMES"):
                print(f"TIME {time.perf_counter() - started:6.2f} {operation.label} {mode.value}")
    report = "\n\n".join(f"[{op} {mode}] {text}" for (op, mode), text in sorted(findings.items()))
    assert not findings, f"{len(findings)} operations failed as {role}:\n\n{report}"
