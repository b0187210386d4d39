"""Import a bank statement (CSV) and match its incoming lines to invoices by payment reference.

Columns, by header (English or Chinese; order free): date / 日期, amount / 金额 (yuan, e.g.
"1,234.56"), reference / 附言 / 摘要 (the memo: the invoice's reference may sit anywhere in
it), and optionally transaction_id / 流水号 and payer / 付款人. All-or-nothing: any malformed
line refuses the whole file with every bad line's number and reason. Outgoing lines (amount
<= 0) are skipped; incoming lines quoting no reference of the importer's invoices are
reported as unmatched; a line already imported (same transaction id, or the same date,
amount, memo and payer) is not recorded twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from app.models.types import utcnow
from services import invoices, permissions
from services.audit import Actor
from services.errors import PermissionDenied, ValidationFailed
from services.payments import bank_transfer

HEADERS = {
    "date": ("date", "日期", "交易日期"),
    "amount": ("amount", "金额", "交易金额"),
    "reference": ("reference", "memo", "附言", "摘要", "用途"),
    "transaction_id": ("transaction_id", "流水号", "交易流水号"),
    "payer": ("payer", "付款人", "对方户名"),
}
REFERENCE = re.compile(r"OP[" + invoices.REFERENCE_ALPHABET + r"]{10}")
MAX_LINES = 10_000


def _column_map(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    found = {}
    for key, options in HEADERS.items():
        for index, name in enumerate(names):
            if name in options:
                found[key] = index
    return found


def parse(text: str) -> list[dict]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValidationFailed(_l("The statement is empty."), {"file": [_l("no lines")]})
    columns = _column_map(rows[0])
    missing = [k for k in ("date", "amount", "reference") if k not in columns]
    if missing:
        raise ValidationFailed(_l("The statement lacks columns."),
                               {"header": [_l("missing: %(names)s", names=", ".join(missing))]})
    if len(rows) - 1 > MAX_LINES:
        raise ValidationFailed(_l("The statement is too long."),
                               {"file": [_l("at most %(n)s lines", n=MAX_LINES)]})
    lines, errors = [], {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(key, row=row):
            index = columns.get(key)
            return row[index].strip() if index is not None and index < len(row) else ""

        problems = []
        try:
            on = date.fromisoformat(cell("date").replace("/", "-"))
        except ValueError:
            problems.append(str(_l("date %(value)r is not YYYY-MM-DD", value=cell("date"))))
            on = None
        try:
            amount = bank_transfer.parse_amount(cell("amount"))
        except ValueError:
            problems.append(str(_l("amount %(value)r is not an amount in yuan", value=cell("amount"))))
            amount = None
        if problems:
            errors[f"line {number}"] = problems
            continue
        lines.append({"line": number, "date": on, "amount_fen": amount, "memo": cell("reference"),
                      "transaction_id": cell("transaction_id") or None, "payer": cell("payer")})
    if errors:
        raise ValidationFailed(_l("The statement has bad lines; nothing was imported."), errors)
    return lines


def _external_id(line: dict) -> str:
    if line["transaction_id"]:
        return f"txn:{line['transaction_id']}"
    digest = hashlib.sha256(f"{line['date']}|{line['amount_fen']}|{line['memo']}|{line['payer']}"
                            .encode()).hexdigest()[:32]
    return f"stmt:{digest}"


def import_statement(actor: Actor, organization_id: int | None, text: str,
                     now: datetime | None = None) -> dict:
    """Record every incoming line that quotes a reference of the importer's invoices."""
    now = now or utcnow()
    operator = permissions.is_operator(actor)
    if operator:
        permissions.require_operator(actor.user, "billing.operate")
    else:
        membership = permissions.membership_of(actor.user, organization_id)
        if membership is None:
            raise PermissionDenied(_l("Import statements for your own organization."))
        permissions.require(actor.user, "billing.manage", membership.organization)
    lines = parse(text)
    matched, unmatched, duplicates, skipped = [], [], 0, 0
    for line in lines:
        if line["amount_fen"] <= 0:
            skipped += 1
            continue
        invoice = None
        for reference in REFERENCE.findall(line["memo"].upper()):
            candidate = invoices.by_reference(reference, for_update=True)
            if candidate is not None and (operator or candidate.issuer_id == organization_id):
                invoice = candidate
                break
        if invoice is None:
            unmatched.append({"line": line["line"], "amount_fen": line["amount_fen"],
                              "memo": line["memo"], "date": line["date"].isoformat()})
            continue
        payment, new = invoices.apply_payment(
            actor, invoice, provider=bank_transfer.NAME, external_id=_external_id(line),
            amount_fen=line["amount_fen"], received_on=line["date"], reference=line["memo"][:140],
            now=now)
        if not new:
            duplicates += 1
            continue
        matched.append({"line": line["line"], **bank_transfer.reconciliation(invoice, payment, new)})
    return {"matched": matched, "unmatched": unmatched, "duplicates": duplicates,
            "outgoing_skipped": skipped}
