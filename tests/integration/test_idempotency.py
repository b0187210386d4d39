"""Idempotency-Key on the API calls that create things: a retry replays the first answer and
creates nothing; another body with the key is 409; failures are not remembered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.certifiers import china_today
from tests.integration.conftest import PASSWORD

REQUESTS = "/api/v1/capacity-requests"
EN = {"Accept-Language": "en"}


def body_for(outlet_id, tonnes=40, **extra) -> dict:
    return {"outlet_id": outlet_id, "tonnes_per_year": tonnes, "term_months": 12,
            "start_date": (china_today() + timedelta(days=7)).isoformat(), **extra}


def post(client, party, body, key, path=REQUESTS):
    headers = {**party.headers, **EN}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(path, json=body, headers=headers)


def count(app, model_name: str) -> int:
    from app import models
    from app.extensions import db

    with app.app_context():
        return db.session.query(getattr(models, model_name)).count()


def test_a_retry_replays_the_first_answer_and_creates_nothing(app, client, shared_outlet,
                                                              make_party):
    outlet_id, _provider = shared_outlet
    maker = make_party("manufacturer")
    first = post(client, maker, body_for(outlet_id), "order-1")
    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    again = post(client, maker, body_for(outlet_id), "order-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert count(app, "CapacityRequest") == 1
    # without the key the same body is a new call: refused, as a second open request
    assert post(client, maker, body_for(outlet_id), None).status_code == 409


def test_the_same_key_with_another_body_is_409(app, client, shared_outlet, make_party):
    outlet_id, _provider = shared_outlet
    maker = make_party("manufacturer")
    assert post(client, maker, body_for(outlet_id), "k").status_code == 201
    response = post(client, maker, body_for(outlet_id, tonnes=41), "k")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert "Idempotency-Key" in error["message"] and "Idempotency-Key" in error["fields"]
    assert count(app, "CapacityRequest") == 1


def test_failures_are_not_remembered_so_a_corrected_retry_reuses_the_key(
        app, client, shared_outlet, make_party):
    outlet_id, _provider = shared_outlet
    maker = make_party("manufacturer")
    bad = post(client, maker, body_for(outlet_id, tonnes=-5), "retry-me")
    assert bad.status_code == 422
    unknown = post(client, maker, body_for(outlet_id, colour="red"), "retry-me")
    assert unknown.status_code == 422  # refused by the schema, before the service
    assert count(app, "IdempotencyKey") == 0
    good = post(client, maker, body_for(outlet_id), "retry-me")
    assert good.status_code == 201 and "Idempotent-Replayed" not in good.headers
    assert count(app, "IdempotencyKey") == 1


def test_keys_are_per_user_and_at_most_255_characters(app, client, shared_outlet, make_party):
    outlet_id, _provider = shared_outlet
    one, two = make_party("manufacturer"), make_party("manufacturer")
    too_long = post(client, one, body_for(outlet_id), "x" * 256)
    assert too_long.status_code == 422
    assert "Idempotency-Key" in too_long.get_json()["error"]["fields"]
    assert post(client, one, body_for(outlet_id), " ").status_code == 422
    assert count(app, "CapacityRequest") == 0
    assert post(client, one, body_for(outlet_id), "x" * 255).status_code == 201
    other = post(client, two, body_for(outlet_id), "x" * 255)
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert count(app, "CapacityRequest") == 2


def test_signing_replays_too(app, client, shared_outlet, make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    request_id = post(client, maker, body_for(outlet_id), None).get_json()["id"]
    accepted = client.post(f"{REQUESTS}/{request_id}/accept", headers=provider.headers).get_json()
    agreement_path = f"/api/v1/agreements/{accepted['agreement_id']}"
    sha = client.get(agreement_path, headers=maker.headers).get_json()["document_sha256"]
    signature = {"password": PASSWORD, "document_sha256": sha}
    first = post(client, maker, signature, "sign-1", agreement_path + "/signatures")
    assert first.status_code == 201, first.get_json()
    again = post(client, maker, signature, "sign-1", agreement_path + "/signatures")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app, "Signature") == 1
    # a new key is a new signing attempt: refused, already signed
    assert post(client, maker, signature, "sign-2", agreement_path + "/signatures").status_code == 409


def test_a_key_whose_first_call_is_unfinished_is_409(app, shared_outlet, make_party):
    from app.extensions import db
    from app.models import IdempotencyKey
    from services import idempotency
    from services.errors import Conflict

    maker = make_party("manufacturer")
    print_ = idempotency.fingerprint("POST", REQUESTS, b"{}")
    with app.app_context():
        db.session.add(IdempotencyKey(user_id=maker.user_id, key="busy", fingerprint=print_))
        db.session.commit()
        with pytest.raises(Conflict) as busy:
            idempotency.begin(maker.user_id, "busy", print_)
        assert "Idempotency-Key" in busy.value.fields
        db.session.rollback()


def test_the_tick_forgets_old_keys(app, client, shared_outlet, make_party):
    from app.extensions import db
    from app.models import IdempotencyKey
    from app.models.types import utcnow
    from services import tick

    outlet_id, _provider = shared_outlet
    maker = make_party("manufacturer")
    assert post(client, maker, body_for(outlet_id), "old").status_code == 201
    days = app.config["IDEMPOTENCY_KEY_MAX_AGE_DAYS"]
    with app.app_context():
        forget = tick.JOBS["idempotency.forget_old"]  # what `flask tick` runs
        assert forget(utcnow() + timedelta(days=days - 1)) == 0
        assert forget(utcnow() + timedelta(days=days, minutes=1)) == 1
        db.session.commit()
        assert db.session.query(IdempotencyKey).count() == 0
    # forgotten: the same call is new again (and refused: the request is still open)
    assert post(client, maker, body_for(outlet_id), "old").status_code == 409


def test_the_fingerprint_covers_method_path_and_body():
    from services.idempotency import fingerprint

    base = fingerprint("POST", "/api/v1/x", b'{"a":1}')
    assert base == fingerprint("post", "/api/v1/x", b'{"a":1}')
    assert base != fingerprint("POST", "/api/v1/y", b'{"a":1}')
    assert base != fingerprint("POST", "/api/v1/x", b'{"a":2}')
    assert fingerprint("POST", "/a", b"b/c") != fingerprint("POST", "/ab", b"/c")


def test_an_acceptance_retried_with_its_key_gets_the_acceptance_back(client, shared_outlet,
                                                                      make_party):
    outlet_id, provider = shared_outlet
    maker = make_party("manufacturer")
    created = client.post("/api/v1/capacity-requests", headers=maker.headers, json={
        "outlet_id": outlet_id, "tonnes_per_year": 10, "start_date": china_today().isoformat(),
        "term_months": 12, "form": "co_built"})
    assert created.status_code == 201, created.get_json()
    path = f"/api/v1/capacity-requests/{created.get_json()['id']}/accept"
    headers = {**provider.headers, "Idempotency-Key": "accept-once"}
    first = client.post(path, headers=headers)
    again = client.post(path, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.get_json() == first.get_json()
    assert client.post(path, headers=provider.headers).status_code == 409  # no key: not open


def test_a_savepoint_opened_before_any_write_is_rolled_back_with_its_transaction(app, make_party):
    """On SQLite, pysqlite begins a transaction only before a write: a SAVEPOINT issued first
    used to run in autocommit mode, so its RELEASE committed the key row of a failed call."""
    from app.extensions import db
    from app.models import IdempotencyKey

    maker = make_party("manufacturer")
    with app.app_context():
        db.session.commit()  # a fresh transaction that has not written anything
        with db.session.begin_nested():
            db.session.add(IdempotencyKey(user_id=maker.user_id, key="k", fingerprint="f"))
        db.session.rollback()
        assert db.session.query(IdempotencyKey).count() == 0
