"""The second level of the versioned read caches (services.data_versions): answers shared by
every worker and app server through Redis (REDIS_URL), so a question is computed once per
change of its scope instead of once per process, and survives a worker's restart.

Keys carry the scope's token, so a change makes the old answers unreachable at once; a TTL
removes them. Values are pickles signed with SECRET_KEY: a value this deployment did not write
(anyone else with access to Redis) is ignored, never unpickled. Keys also carry a digest of
the code, templates and catalogs that compute, shape and render the answers, so two releases
side by side during a rolling upgrade never read each other's answers.

Redis is an accelerator here, never a dependency: when it is unset, slow or down, answers are
computed as if it were not there, and after an error the shared level rests for a few seconds
instead of making every request wait on a dead connection.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
import time
from collections.abc import Hashable
from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app

log = logging.getLogger(__name__)
MISSING = object()
SOCKET_TIMEOUT_S = 0.2
REST_AFTER_ERROR_S = 5.0
# What computes, shapes and renders cached answers (the web layer caches rendered page parts):
# (folder, file pattern).
_CODE = (("services", "*.py"), ("app/models", "*.py"), ("app/web", "*.py"), ("app", "i18n.py"),
         ("templates", "*.html"), ("app/translations", "*.po"))

_resting_until = 0.0


@cache
def _client_for(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S,
                                socket_connect_timeout=SOCKET_TIMEOUT_S)


def _client():
    url = current_app.config.get("REDIS_URL")
    if not url or time.monotonic() < _resting_until:
        return None
    return _client_for(url)


def _rest(error: Exception) -> None:
    global _resting_until
    if time.monotonic() >= _resting_until:
        log.warning("shared cache unavailable for %.0f s: %s", REST_AFTER_ERROR_S, error)
    _resting_until = time.monotonic() + REST_AFTER_ERROR_S


@cache
def code_digest() -> str:
    return digest_of(Path(__file__).resolve().parent.parent)


def digest_of(root: Path) -> str:
    """A digest of the code, templates and catalogs under `root` that compute, shape and
    render cached answers."""
    digest = hashlib.blake2b(digest_size=8)
    for folder, pattern in _CODE:
        for path in sorted((root / folder).rglob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _redis_key(full_key: Hashable) -> str:
    # repr() of the key (scope, token, tuples of str/int/float/enum and frozen dataclasses) is
    # the same in every process; hashing it keeps Redis keys short.
    digest = hashlib.blake2b(repr(full_key).encode(), digest_size=16).hexdigest()
    return f"outletpool:dv:{code_digest()}:{digest}"


def _signature(payload: bytes) -> bytes:
    return hmac.new(current_app.config["SECRET_KEY"].encode(), payload, hashlib.sha256).digest()


def get(full_key: Hashable) -> Any:
    """The shared answer for `full_key`, or MISSING (also when Redis is unset or failing)."""
    client = _client()
    if client is None:
        return MISSING
    try:
        blob = client.get(_redis_key(full_key))
    except Exception as error:  # any Redis or socket error: compute instead
        _rest(error)
        return MISSING
    if not blob or len(blob) < 32:
        return MISSING
    signature, payload = blob[:32], blob[32:]
    if not hmac.compare_digest(signature, _signature(payload)):
        log.warning("shared cache: ignored a value with a bad signature")
        return MISSING
    return pickle.loads(payload)  # noqa: S301 (signed by this deployment's SECRET_KEY)


def put(full_key: Hashable, value: Any) -> None:
    client = _client()
    if client is None:
        return
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    try:
        client.set(_redis_key(full_key), _signature(payload) + payload,
                   ex=current_app.config["DATA_CACHE_SHARED_TTL"])
    except Exception as error:
        _rest(error)

