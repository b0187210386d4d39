"""Billing API: an agreement's cost pools and their split, billing period, invoices (JSON and
PDF), payment by bank transfer or card, recorded transfers, statement import, balance and
statement, and the operators' write-offs and credit notes."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, request

from app.api.common import BEARER, Blueprint, PageQuerySchema, actor, authenticated, json_answer, page_answer
from app.extensions import db
from services import bank_statements, cost_pools, invoice_pdf, invoices, ledger, permissions
from services.errors import ValidationFailed
from services.payments import bank_transfer, providers
from services.spreadsheet_safety import decode_upload

blp = Blueprint("api_billing", __name__, url_prefix="/api/v1", description="Cost sharing and payments")
Str, Int, Date = ma.fields.String, ma.fields.Integer, ma.fields.Date


class PoolLineSchema(ma.Schema):
    description = Str(required=True)
    amount_fen = Int(required=True, strict=True)
    checklist_item = Int(strict=True, allow_none=True,
                         metadata={"description": "Checklist item 1-24 the cost fixes (one-off pools)"})


class PoolInSchema(ma.Schema):
    name = Str(required=True)
    kind = Str(required=True, metadata={"enum": ["one_off", "recurring"]})
    rule = Str(required=True, metadata={"enum": ["equal", "capacity", "parc", "custom"]})
    lines = ma.fields.List(ma.fields.Nested(PoolLineSchema), required=True)
    custom_weights = ma.fields.Dict(keys=Str(), values=ma.fields.Float(), allow_none=True,
                                    metadata={"description": "Maker id -> weight (rule custom)"})


class PoolPatchSchema(PoolInSchema):
    """The same fields, each optional (the instance is made with partial=True: marshmallow
    ignores `partial` in Meta)."""


class BillingPeriodSchema(ma.Schema):
    period = Str(required=True, metadata={"enum": list(invoices.PERIODS)})


class InvoiceListQuerySchema(PageQuerySchema):
    organization_id = Int()
    role = Str(validate=ma.validate.OneOf(invoices.ROLES),
               metadata={"description": "issued: by the organization; received: by it as customer"})
    status = Str()
    agreement_id = Int()
    overdue = ma.fields.Boolean(load_default=False)


class InvoicePdfQuerySchema(ma.Schema):
    lang = Str(load_default="zh", validate=ma.validate.OneOf(["zh", "en"]))


class BankTransferInSchema(ma.Schema):
    amount_fen = Int(required=True, strict=True)
    received_on = Date(required=True)
    reference = Str(allow_none=True)
    bank_transaction_id = Str(allow_none=True)


class BillingReasonSchema(ma.Schema):
    reason = Str(required=True)


class CreditNoteInSchema(BillingReasonSchema):
    amount_fen = Int(required=True, strict=True)


class PayeeBankDetailsSchema(ma.Schema):
    bank_name = Str(required=True)
    account_name = Str(required=True)
    account_number = Str(required=True)


class LedgerQuerySchema(ma.Schema):
    start = Date()
    end = Date()


def present(invoice) -> dict:
    return {
        **{k: getattr(invoice, k) for k in (
            "id", "number", "issuer_id", "customer_id", "agreement_id", "currency", "tax_rate_bp",
            "net_fen", "tax_fen", "gross_fen", "paid_fen", "credited_fen", "written_off_fen",
            "outstanding_fen", "platform_fee_fen", "payment_reference", "reminders_sent")},
        **{k: getattr(invoice, k).isoformat() for k in ("period_start", "period_end", "issued_on",
                                                         "due_on")},
        "status": invoice.status.value,
        "payment_state": invoices.payment_state(invoice),
        "issuer_name": invoice.issuer.legal_name, "customer_name": invoice.customer.legal_name,
        "lines": [{"kind": line.kind, "description_zh": line.description_zh,
                   "description_en": line.description_en, "net_fen": line.net_fen, "data": line.data}
                  for line in invoice.lines],
        "payments": [{"id": p.id, "provider": p.provider, "amount_fen": p.amount_fen,
                      "received_on": p.received_on.isoformat(), "reference": p.reference}
                     for p in invoice.payments],
        "pay_with": [p.name for p in providers()],
        "bank_transfer": bank_transfer.PROVIDER.instructions(invoice),
    }


# --- cost pools -----------------------------------------------------------------------------

@blp.route("/agreements/<int:agreement_id>/cost-pools", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer(
    "Pools proposed and in force", "proposed", "in_force", "in_force_version", "billing_period")})
def list_pools(agreement_id):
    """The pools as proposed and their split among the makers now (what the next version to
    sign would say), and the pools of the version in force."""
    from services import agreements

    agreement = agreements.get_visible(actor(), agreement_id)
    in_force = agreements.version_in_force(agreement)
    return {"proposed": cost_pools.preview(actor(), agreement_id),
            "in_force": (in_force.document.get("cost_pools") or []) if in_force else [],
            "in_force_version": in_force.version if in_force else None,
            "billing_period": invoices.billing_period(agreement_id)}


@blp.route("/agreements/<int:agreement_id>/cost-pools", methods=["POST"])
@authenticated
@blp.arguments(PoolInSchema)
@blp.doc(security=BEARER, responses={"201": json_answer(
    "The new pool's id and the proposed split", "id", "proposed")})
def create_pool(data, agreement_id):
    """Add a pool: the agreement is re-issued as a new version to sign (reason "costs")."""
    pool = cost_pools.create(actor(), agreement_id, data)
    db.session.commit()
    return {"id": pool.id, "proposed": cost_pools.preview(actor(), agreement_id)}, 201


@blp.route("/agreements/<int:agreement_id>/cost-pools/<int:pool_id>", methods=["PATCH"])
@authenticated
@blp.arguments(PoolPatchSchema(partial=True))
@blp.doc(security=BEARER, responses={"200": json_answer("The proposed split", "proposed")})
def update_pool(data, agreement_id, pool_id):
    cost_pools.update(actor(), agreement_id, pool_id, data)
    db.session.commit()
    return {"proposed": cost_pools.preview(actor(), agreement_id)}


@blp.route("/agreements/<int:agreement_id>/cost-pools/<int:pool_id>", methods=["DELETE"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer("The proposed split", "proposed")})
def delete_pool(agreement_id, pool_id):
    cost_pools.delete(actor(), agreement_id, pool_id)
    db.session.commit()
    return {"proposed": cost_pools.preview(actor(), agreement_id)}


@blp.route("/agreements/<int:agreement_id>/billing-period", methods=["PUT"])
@authenticated
@blp.arguments(BillingPeriodSchema)
@blp.doc(security=BEARER, responses={"200": json_answer("The billing period", "period")})
def set_period(data, agreement_id):
    row = invoices.set_billing_period(actor(), agreement_id, data["period"])
    db.session.commit()
    return {"period": row.period}


# --- invoices -------------------------------------------------------------------------------

@blp.route("/invoices", methods=["GET"])
@authenticated
@blp.arguments(InvoiceListQuerySchema, location="query")
@blp.doc(security=BEARER, responses={"200": json_answer("Invoices, a page of them", "items", "total")})
def list_invoices(query):
    """Invoices the caller's organizations issued or received (all, for operators), newest
    first, a page at a time."""
    from services.certifiers import china_today

    organization_id = permissions.organization_in_view(actor(), query.get("organization_id"))
    found, total = invoices.list_for(
        actor(), organization_id=organization_id, role=query.get("role"), status=query.get("status"),
        agreement_id=query.get("agreement_id"), overdue_on=china_today() if query["overdue"] else None,
        page=query["page"], per_page=query["per_page"])
    return page_answer([present(i) for i in found], total, query)


@blp.route("/invoices/<int:invoice_id>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer("The invoice", "id", "number", "status")})
def get_invoice(invoice_id):
    return present(invoices.get_visible(actor(), invoice_id))


@blp.route("/invoices/<int:invoice_id>/pdf", methods=["GET"])
@authenticated
@blp.arguments(InvoicePdfQuerySchema, location="query")
@blp.doc(security=BEARER, responses={"200": {"description": "The invoice as PDF", "content": {
    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}})
def invoice_as_pdf(query, invoice_id):
    invoice = invoices.get_visible(actor(), invoice_id)
    response = Response(invoice_pdf.render_invoice(invoice, query["lang"]), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{invoice.number}-{query["lang"]}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@blp.route("/invoices/<int:invoice_id>/transfers", methods=["POST"])
@authenticated
@blp.arguments(BankTransferInSchema)
@blp.doc(security=BEARER, responses={"201": json_answer(
    "The payment and how it settled the invoice", "invoice_id", "payment_id")})
def record_transfer(data, invoice_id):
    """The payee (or an operator) records a bank transfer received; the answer says whether
    it paid the invoice exactly, partly or over."""
    result = bank_transfer.record_transfer(actor(), invoice_id, **data)
    db.session.commit()
    return result, 201


@blp.route("/invoices/<int:invoice_id>/pay", methods=["POST"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer(
    "Bank transfer details, or the card PaymentIntent", "provider")})
def pay(invoice_id):
    """Start paying: `?provider=bank_transfer` (default) returns the transfer details;
    `?provider=stripe` creates (or returns) the invoice's PaymentIntent."""
    from services.payments import get

    name = request.args.get("provider", "bank_transfer")
    provider = get(name)
    if provider is None:
        raise ValidationFailed("Unknown or unavailable payment provider.",
                               {"provider": [f"one of {', '.join(p.name for p in providers())}"]})
    invoice = invoices.get_visible(actor(), invoice_id, for_update=True)
    result = provider.start(actor(), invoice)
    db.session.commit()
    return result


@blp.route("/invoices/<int:invoice_id>/write-off", methods=["POST"])
@authenticated
@blp.arguments(BillingReasonSchema)
@blp.doc(security=BEARER, responses={"200": json_answer("The invoice", "id", "number", "status")})
def write_off(data, invoice_id):
    invoice = invoices.write_off(actor(), invoice_id, data["reason"])
    db.session.commit()
    return present(invoice)


@blp.route("/invoices/<int:invoice_id>/credit-notes", methods=["POST"])
@authenticated
@blp.arguments(CreditNoteInSchema)
@blp.doc(security=BEARER, responses={"201": json_answer("The invoice", "id", "number", "status")})
def credit(data, invoice_id):
    invoice = invoices.credit(actor(), invoice_id, data["amount_fen"], data["reason"])
    db.session.commit()
    return present(invoice), 201


# --- organizations: bank details, statements, balance ---------------------------------------

@blp.route("/organizations/<int:organization_id>/bank-account", methods=["PUT"])
@authenticated
@blp.arguments(PayeeBankDetailsSchema)
@blp.doc(security=BEARER, responses={"200": json_answer(
    "The bank account", "bank_name", "account_name", "account_number")})
def set_bank_account(data, organization_id):
    account = bank_transfer.set_bank_details(actor(), organization_id, data)
    db.session.commit()
    return {"bank_name": account.bank_name, "account_name": account.account_name,
            "account_number": account.account_number}


@blp.route("/organizations/<int:organization_id>/bank-statements", methods=["POST"])
@authenticated
@blp.doc(security=BEARER, requestBody={"content": {"text/csv": {"schema": {"type": "string"}}}},
         responses={"200": json_answer("Lines matched, unmatched and already imported",
                                       "matched", "unmatched", "duplicates")})
def import_statement(organization_id):
    """Upload a bank statement as CSV (body, or multipart field `file`); incoming lines are
    matched to invoices by payment reference. All-or-nothing on malformed lines."""
    upload = request.files.get("file")
    raw = upload.read() if upload else request.get_data()
    text = decode_upload(raw)
    result = bank_statements.import_statement(actor(), organization_id, text)
    db.session.commit()
    return result


@blp.route("/organizations/<int:organization_id>/ledger", methods=["GET"])
@authenticated
@blp.arguments(LedgerQuerySchema, location="query")
@blp.doc(security=BEARER, responses={"200": json_answer(
    "Balance and statement lines", "organization_id", "balance_fen", "lines")})
def statement(query, organization_id):
    """Balance (above 0: owes; below 0: is owed), per account, and the statement lines."""
    organization_id = permissions.organization_in_view(actor(), organization_id)
    result = ledger.statement(organization_id, start=query.get("start"), end=query.get("end"))
    for line in result["lines"]:
        line["on"] = line["on"].isoformat()
    return {"organization_id": organization_id, "balance_fen": ledger.balance_of(organization_id),
            "accounts": ledger.accounts_of(organization_id), **result}
