"""Contracting under concurrent writers (PostgreSQL): acceptances racing for the last tonnes
of an offer never overbook it, and one Idempotency-Key sent by many at once creates one thing.

SQLite serializes writers itself, so these run on PostgreSQL only (TEST_DATABASE_URL).
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from services.certifiers import china_today

EN = {"Accept-Language": "en"}
MAKERS = 60
THREADS = 60


@pytest.fixture
def postgres_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("concurrency is exercised on PostgreSQL")


def start() -> str:
    return (china_today() + timedelta(days=7)).isoformat()


def run_at_once(calls: list) -> list:
    """Run every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls), timeout=60)

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_sixty_acceptances_at_once_take_exactly_the_offered_capacity(
        app, postgres_only, shared_outlet, make_party):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import (
        Agreement,
        Allocation,
        AllocationStatus,
        CapacityRequest,
        Organization,
        Outlet,
        RequestStatus,
        User,
    )
    from services import audit, capacity_requests
    from services.audit import Actor

    outlet_id, provider = shared_outlet  # offers 100 t/year
    makers = [make_party("manufacturer", with_token=False) for _ in range(MAKERS)]
    with app.app_context():
        request_ids = []
        for maker in makers:
            request = capacity_requests.create(
                Actor(user=db.session.get(User, maker.user_id)),
                db.session.get(Organization, maker.organization_id),
                {"outlet_id": outlet_id, "tonnes_per_year": 10, "start_date": start(),
                 "term_months": 12, "form": "shared_use"})
            request_ids.append(request.id)
        db.session.commit()

    def accept(request_id):
        def call():
            response = app.test_client().post(
                f"/api/v1/capacity-requests/{request_id}/accept",
                headers={**provider.headers, **EN})
            return response.status_code, response.get_json()
        return call

    results = run_at_once([accept(i) for i in request_ids])

    statuses = Counter(status for status, _body in results)
    assert statuses == {200: 10, 409: 50}, statuses
    for status, body in results:
        if status == 409:
            assert "Capacity ran out" in body["error"]["message"], body
            assert "tonnes_per_year" in body["error"]["fields"]
        else:
            assert body["status"] == "accepted" and body["agreement_id"]
    with app.app_context():
        held = db.session.execute(
            select(func.coalesce(func.sum(Allocation.tonnes_per_year), 0.0)).where(
                Allocation.outlet_id == outlet_id,
                Allocation.status.in_((AllocationStatus.PENDING, AllocationStatus.ACTIVE)))
        ).scalar_one()
        assert held <= 100 and held == pytest.approx(100)
        assert db.session.query(Allocation).count() == 10
        assert db.session.get(Outlet, outlet_id).available_capacity_t == 0
        assert db.session.query(Agreement).count() == 1  # every winner joined the same one
        by_status = Counter(db.session.execute(select(CapacityRequest.status)).scalars())
        assert by_status == {RequestStatus.ACCEPTED: 10, RequestStatus.REQUESTED: 50}
        agreement = db.session.execute(select(Agreement)).scalar_one()
        assert len(agreement.versions) == 10  # one version per acceptance, the last pending
        assert len(agreement.versions[-1].document["allocations"]) == 10
        report = audit.verify_chain()
        assert report.ok, report


def test_one_idempotency_key_sent_ten_times_at_once_creates_one_request(
        app, postgres_only, shared_outlet, make_party):
    from app.extensions import db
    from app.models import CapacityRequest, IdempotencyKey
    from services import audit

    outlet_id, _provider = shared_outlet
    maker = make_party("manufacturer")
    body = {"outlet_id": outlet_id, "tonnes_per_year": 10, "start_date": start(),
            "term_months": 12}

    def create():
        response = app.test_client().post(
            "/api/v1/capacity-requests", json=body,
            headers={**maker.headers, **EN, "Idempotency-Key": "race-1"})
        return response.status_code, response.get_json(), response.headers.get(
            "Idempotent-Replayed")

    results = run_at_once([create] * 10)

    assert [status for status, _body, _replayed in results] == [201] * 10, results
    assert len({body["id"] for _status, body, _replayed in results}) == 1
    assert sum(1 for *_rest, replayed in results if replayed is None) == 1
    with app.app_context():
        assert db.session.query(CapacityRequest).count() == 1
        assert db.session.query(IdempotencyKey).count() == 1
        assert audit.verify_chain().ok
