"""An HTTP client for the stripe library that records what the library sends (method, path,
form-encoded parameters, idempotency key) and either passes it on (to localstripe) or answers
from a recorded fixture, checking that the library built exactly the recorded request.

The fixtures (stripe_fixtures/*.json) hold, per call, the request as Stripe's API takes it and
a response in the shape of Stripe's API reference for that object. They cover the calls
localstripe lacks (Connect: Account, AccountLink, Transfer) and the PaymentIntent parameters it
refuses (transfer_group, description)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import stripe

FIXTURES = Path(__file__).parent / "stripe_fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def fill(value, names: dict):
    """Fixtures name ids that differ per test run as {placeholders} ("{amount}" alone takes
    the value as it is: a number in a response stays a number)."""
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in names:
            return names[value[1:-1]]
        return value.format(**names)
    if isinstance(value, dict):
        return {k: fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    return value


class RecordingHTTPClient(stripe.HTTPClient):
    name = "recording"

    def __init__(self, inner: stripe.HTTPClient | None = None):
        super().__init__()
        self.inner = inner
        self.sent: list[dict] = []
        self.replies: list[tuple[dict, dict]] = []  # (expected request, response body)

    def expect(self, fixture: dict, **names) -> None:
        as_sent = {k: str(v) for k, v in names.items()}  # form-encoded: every value is text
        self.replies.append((fill(fixture["request"], as_sent), fill(fixture["response"], names)))

    def request(self, method, url, headers, post_data=None, *, _usage=None):
        if isinstance(post_data, bytes):
            post_data = post_data.decode()
        parts = urlsplit(url)
        sent = {"method": method.upper(), "path": parts.path,
                "params": dict(parse_qsl(post_data or parts.query, keep_blank_values=True)),
                "idempotency_key": dict(headers).get("Idempotency-Key")}
        self.sent.append(sent)
        if self.replies and self.replies[0][0]["path"].split("/")[2] == parts.path.split("/")[2]:
            expected, body = self.replies.pop(0)
            if expected["idempotency_key"] is None:  # the library adds its own (a uuid) on retries
                expected = {**expected, "idempotency_key": sent["idempotency_key"]}
            assert sent == expected, f"the library sent {sent}, the recording has {expected}"
            return json.dumps(body), 200, {"Request-Id": "req_recorded"}
        if self.inner is None:
            raise AssertionError(f"no recorded reply for {sent}")
        return self.inner.request(method, url, headers, post_data)

    def close(self):
        if self.inner is not None:
            self.inner.close()
