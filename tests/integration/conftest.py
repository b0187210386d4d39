"""Factories and clients for integration tests (through the app and a real database)."""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from services.credit_code import make as make_credit_code
from tests.conftest import csrf_token_from

PASSWORD = "correct horse battery"
_sequence = itertools.count(1)


@dataclass
class Party:
    organization_id: int
    user_id: int
    email: str
    password: str = PASSWORD
    token: str | None = None

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


def credit_code_for(sequence: int, division: str = "440300") -> str:
    return make_credit_code(f"91{division}{sequence:09d}")


def org_payload(kind="manufacturer", *, email=None, sequence=None, **org_overrides) -> dict:
    sequence = sequence or next(_sequence)
    organization = {
        "kind": kind,
        "legal_name": f"测试{kind}{sequence}有限公司",
        "english_name": f"Test {kind} {sequence}",
        "credit_code": credit_code_for(sequence),
        "address": "广东省深圳市南山区科技园1号",
    }
    if kind == "provider":
        organization["provider_type"] = "utilization"
    organization.update(org_overrides)
    return {"organization": organization,
            "user": {"email": email or f"user{sequence}@example.com", "password": PASSWORD,
                     "name": f"User {sequence}"}}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_party(app):
    """Sign up an organization and its owner; verify it and issue a token unless told not to."""
    from app.extensions import db
    from services import accounts, organizations
    from services.audit import Actor

    def factory(kind="manufacturer", *, verified=True, with_token=True, **overrides) -> Party:
        payload = org_payload(kind, **overrides)
        with app.app_context():
            if kind == "operator":
                user = accounts.create_operator(payload["user"]["email"], PASSWORD, "Op")
                organization_id = accounts.operator_organization().id
            else:
                organization, user = accounts.signup(payload["organization"], payload["user"])
                organization_id = organization.id
                if verified:
                    operator = accounts.create_operator("root-operator@example.com", PASSWORD)
                    organizations.set_verification(Actor(user=operator), organization_id,
                                                   "verified")
            token = accounts.create_token(user, "tests")[1] if with_token else None
            db.session.commit()
            return Party(organization_id, user.id, user.email, token=token)

    return factory


@pytest.fixture
def operator(make_party):
    return make_party("operator", email="operator@example.com")


def login(client, email, password=PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_token_from(page.get_data(as_text=True))})


def form_post(client, path, data, *, page_path=None):
    """Post a form the way a browser does: fetch the page first for its CSRF token."""
    page = client.get(page_path or path)
    token = csrf_token_from(page.get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


@pytest.fixture
def shared_outlet(app, make_party):
    """A verified provider's listed collection outlet in Shenzhen offering 100 t/year for
    sharing (CNY 12,000 a year, CNY 300 a tonne, 12 months minimum), and its provider."""
    from datetime import UTC, date, datetime

    from app.extensions import db
    from app.models import CapacityOffer, Outlet

    provider = make_party("provider")
    with app.app_context():
        outlet = Outlet(
            provider_id=provider.organization_id, name="宝安共享网点", address="深圳市宝安区福永街道1号",
            province_code="440000", city_code="440300", district_code="440306", lat=22.67,
            lon=113.82, type="collection", storage_area_m2=40, max_stored_weight_t=5,
            annual_capacity_t=300, chemistries=["LFP"], safety_classes=["A"],
            establishment="self_built", status="listed", compliant=True, certified=True,
            available_capacity_t=100, annual_fee_fen=1_200_000, handling_fee_fen_per_t=30_000,
            listed_at=datetime(2026, 1, 1, tzinfo=UTC), search_text="宝安共享网点")
        db.session.add(outlet)
        db.session.flush()
        db.session.add(CapacityOffer(outlet_id=outlet.id, capacity_t_per_year=100,
                                     annual_fee_fen=1_200_000, handling_fee_fen_per_t=30_000,
                                     min_term_months=12, available_from=date(2026, 1, 1)))
        db.session.commit()
        return outlet.id, provider


class FakeRedis:
    """What services.shared_cache uses of a Redis client, in a dict."""

    def __init__(self, fail: bool = False):
        self.store: dict[str, bytes] = {}
        self.fail = fail
        self.calls = 0

    def get(self, key):
        self.calls += 1
        if self.fail:
            raise ConnectionError("Redis is down")
        return self.store.get(key)

    def set(self, key, value, ex=None):
        self.calls += 1
        if self.fail:
            raise ConnectionError("Redis is down")
        assert ex and ex > 0
        self.store[key] = value


@pytest.fixture
def shared(app, monkeypatch):
    """A shared cache level (REDIS_URL) backed by FakeRedis."""
    from services import data_versions, shared_cache

    fake = FakeRedis()
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://shared-cache.test/0")
    monkeypatch.setattr(shared_cache, "_client_for", lambda url: fake)
    monkeypatch.setattr(shared_cache, "_resting_until", 0.0)
    monkeypatch.setattr(data_versions, "_cache", data_versions._Lru())
    return fake


@pytest.fixture
def as_another_process(monkeypatch):
    """Call it to answer the next requests as a new process would: the per-process cache
    level empty, the shared one as it is."""
    from services import data_versions

    return lambda: monkeypatch.setattr(data_versions, "_cache", data_versions._Lru())


@contextmanager
def recorded_statements(app):
    """The SQL sent to the database meanwhile, lower-cased with whitespace folded."""
    from sqlalchemy import event

    from app.extensions import db

    seen: list[str] = []

    def record(_conn, _cursor, statement, *_):
        seen.append(" ".join(statement.lower().split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def statements(app):
    with recorded_statements(app) as seen:
        yield seen
