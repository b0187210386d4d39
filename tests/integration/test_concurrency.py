"""Concurrent writers: the audit chain stays linear, uniqueness races end in 409, never 500.

Run for real on PostgreSQL (TEST_DATABASE_URL); SQLite serializes writers itself.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from app.extensions import db
from app.models import Organization
from services import audit
from tests.integration.conftest import org_payload


@pytest.fixture
def postgres_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("concurrency is exercised on PostgreSQL")


def test_parallel_sign_ups_keep_the_audit_chain_intact(app, postgres_only):
    payloads = [org_payload("provider", sequence=9000 + i, email=f"p{i}@example.com")
                for i in range(16)]

    def sign_up(payload):
        return app.test_client().post("/api/v1/signup", json=payload).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(sign_up, payloads))
    assert statuses == [201] * 16
    with app.app_context():
        report = audit.verify_chain()
        assert report.ok and report.checked == 16


def test_the_same_credit_code_twice_at_once_registers_once(app, postgres_only):
    first = org_payload("manufacturer", sequence=9100, email="a@example.com")
    second = org_payload("manufacturer", sequence=9100, email="b@example.com")

    def sign_up(payload):
        return app.test_client().post("/api/v1/signup", json=payload).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(sign_up, [first, second] * 4))
    assert statuses.count(201) == 1
    assert set(statuses) <= {201, 409, 422}
    with app.app_context():
        assert db.session.query(Organization).count() == 1
        assert audit.verify_chain().ok
