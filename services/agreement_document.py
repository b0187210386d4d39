"""The agreement's text as data: plain values in, a JSON document and its SHA-256 out.

A version's document is what every party signs. It is frozen when the version is issued
(responsibilities included, so a later edit of the terms file does not change what was
signed) and hashed over a canonical JSON form; a signature stores the hash its signer saw.
`problems()` recomputes the hash, so a document altered after issue, or a signature made on
another text, is detected.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import cache
from pathlib import Path

from flask_babel import lazy_gettext as _l

TERMS_FILE = Path(__file__).resolve().parent / "data" / "agreement_terms.json"
FORMAT = "outletpool-agreement/1"


@cache
def terms() -> dict:
    return json.loads(TERMS_FILE.read_text(encoding="utf-8"))


def responsibilities_for(party_kinds: set[str] | None = None) -> list[dict]:
    """The responsibilities written into an agreement, with the rule each comes from."""
    items = terms()["responsibilities"]
    return [dict(item) for item in items
            if party_kinds is None or item["party"] in party_kinds | {"all"}]


def build(*, number: str, version: int, reason: str, issued_on: date, outlet: dict,
          provider: dict, allocations: list[dict], offered_t_per_year: float,
          cost_pools: list[dict] | None = None) -> dict:
    """The document of one version.

    `provider` and each allocation's `manufacturer` are {"id", "legal_name", "credit_code"};
    allocations carry their terms (tonnes, form, dates, fees in fen); `cost_pools` are the
    shared costs with each maker's share (services.cost_sharing.document_part)."""
    manufacturers = {a["manufacturer"]["id"]: a["manufacturer"] for a in allocations}
    parties = [{"role": "provider", **provider}] + [
        {"role": "manufacturer", **m} for _, m in sorted(manufacturers.items())]
    document = {
        "format": FORMAT,
        "number": number,
        "version": version,
        "reason": reason,
        "issued_on": issued_on.isoformat(),
        "outlet": outlet,
        "parties": parties,
        "allocations": [{**a, "manufacturer_id": a["manufacturer"]["id"]} for a in allocations],
        "allocated_t_per_year": round(sum(a["tonnes_per_year"] for a in allocations), 3),
        "offered_t_per_year": offered_t_per_year,
        "responsibilities": responsibilities_for(),
        "terms_version": terms()["version"],
    }
    if cost_pools:  # the shared costs and their split, frozen by the signatures
        document["cost_pools"] = cost_pools
    return document


def canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def sha256_of(document: dict) -> str:
    return hashlib.sha256(canonical(document)).hexdigest()


def party_ids(document: dict) -> list[int]:
    return [party["id"] for party in document["parties"]]


def problems(document: dict, stored_sha256: str, signatures: list[tuple[str, str]]) -> list[str]:
    """What does not hold: the document against its stored hash, and each signature
    (`(signer label, hash signed)`) against the document."""
    found = []
    actual = sha256_of(document)
    if actual != stored_sha256:
        found.append(str(_l("the document was changed after it was issued (its SHA-256 is now "
                            "%(actual)s, issued as %(stored)s)", actual=actual,
                            stored=stored_sha256)))
    for label, signed in signatures:
        if signed != actual:
            found.append(str(_l("the signature of %(party)s was made on another text (SHA-256 "
                                "%(signed)s, document %(actual)s)", party=label, signed=signed,
                                actual=actual)))
    return found
