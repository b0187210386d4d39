"""Billing pages: invoices issued and received, an invoice with its lines, payee bank details,
PDF, recorded transfers, card payment, refunds of over-payments and the operator's write-off
and credit note; the organization's ledger statement; the payee's bank account and Stripe
onboarding; bank statement import; an agreement's cost pools (included in the agreement page)
and the overdue card of the dashboard.

Views parse the form, call one service, commit once and render. Amounts are typed in yuan and
turned into integer fen here, with Decimal (services.money.fen_from_yuan)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from app.extensions import db
from app.models import OrgKind, PayeeBankAccount
from app.security import current_actor, current_membership
from app.transactions import committed
from app.web.contracts import DATE, MONEY, show_errors
from app.web.forms import ActionForm
from app.web.paging import requested_page
from services import (
    agreements,
    bank_statements,
    cost_pools,
    cost_sharing,
    invoice_pdf,
    invoices,
    ledger,
    permissions,
)
from services.certifiers import china_today
from services.errors import Conflict, PermissionDenied, ServiceError, ValidationFailed
from services.money import fen_from_yuan, yuan_from_fen
from services.payments import bank_transfer, stripe_provider
from services.spreadsheet_safety import decode_upload

bp = Blueprint("billing", __name__, url_prefix="/billing")
PER_PAGE = 50

MONEY_HINT = _l("must be an amount in yuan with at most two decimals, e.g. 1200 or 1200.50")
OUTCOME_MESSAGES = {
    "exact": _l("Transfer recorded: the invoice is paid exactly."),
    "partial": _l("Transfer recorded: the invoice is partly paid; %(left)s is still open."),
    "overpayment": _l("Transfer recorded: the invoice is over-paid by %(over)s, a credit to the "
                      "customer (refund it below, or it stays as credit)."),
}
STATE_LABELS = {
    "unpaid": _l("Unpaid"), "partial": _l("Partly paid"), "paid": _l("Paid"),
    "overpaid": _l("Over-paid"), "written_off": _l("Written off"), "credited": _l("Credited"),
}
KIND_LABELS = {"one_off": _l("One-off (co-building)"), "recurring": _l("Recurring, per year")}
RULE_LABELS = {"equal": _l("Equal"), "capacity": _l("Pro rata capacity (t/year)"),
               "parc": _l("Pro rata parc in the outlet's city"), "custom": _l("Agreed weights")}
PERIOD_LABELS = {"monthly": _l("Monthly"), "quarterly": _l("Quarterly"), "annual": _l("Annual")}
ACCOUNT_LABELS = {
    "receivable": _l("Receivable"), "revenue": _l("Revenue"), "vat_payable": _l("VAT payable"),
    "platform_fee": _l("Platform fee"), "fee_revenue": _l("Fee revenue"), "bank": _l("Bank"),
    "stripe_balance": _l("Card balance (platform)"), "stripe_payouts": _l("Card payouts"),
    "bad_debt": _l("Bad debt"),
}
METHOD_LABELS = {"bank_transfer": _l("Bank transfer"), "stripe": _l("Card")}  # Payment.provider
TRANSACTION_LABELS = {
    "invoice": _l("Invoice"), "platform_fee": _l("Platform fee"), "payment": _l("Payment"),
    "refund": _l("Refund"), "credit_note": _l("Credit note"), "write_off": _l("Write-off"),
    "payout": _l("Payout"),
}

# Stripe PaymentIntent statuses, in the words a payer understands
INTENT_LABELS = {
    "requires_payment_method": _l("waiting for card details"),
    "requires_confirmation": _l("waiting for confirmation"),
    "requires_action": _l("waiting for your bank to confirm"), "processing": _l("processing"),
    "succeeded": _l("paid, waiting for Stripe to tell the platform"), "canceled": _l("cancelled"),
}


def _labels() -> dict:
    return {"status_labels": {s.value: v for s, v in invoices.STATUS_LABELS.items()},
            "state_labels": STATE_LABELS, "kind_labels": KIND_LABELS, "rule_labels": RULE_LABELS,
            "period_labels": PERIOD_LABELS, "account_labels": ACCOUNT_LABELS,
            "transaction_labels": TRANSACTION_LABELS, "method_labels": METHOD_LABELS}


# --- forms ------------------------------------------------------------------------------------

def _fen(form: FlaskForm, name: str) -> int:
    """The yuan typed into `name`, as fen; a ValidationFailed naming the field otherwise."""
    try:
        fen = fen_from_yuan(getattr(form, name).data or "")
    except ValueError:
        fen = 0
    if fen <= 0:
        raise ValidationFailed(_("Some fields need correcting."), {name: [str(MONEY_HINT)]})
    return fen


class TransferForm(FlaskForm):
    amount_yuan = StringField(_l("Amount received (CNY)"), render_kw=MONEY)
    received_on = StringField(_l("Received on"), render_kw=DATE)
    reference = StringField(_l("Bank reference or memo (optional)"),
                            validators=[Optional(), Length(max=140)])
    submit = SubmitField(_l("Record the transfer"))


class CreditForm(FlaskForm):
    amount_yuan = StringField(_l("Credit (CNY, gross)"), render_kw=MONEY)
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)],
                           render_kw={"rows": 2})
    submit = SubmitField(_l("Issue the credit note"))


class WriteOffForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)],
                           render_kw={"rows": 2})
    submit = SubmitField(_l("Write off what is left"))


class RefundForm(FlaskForm):
    amount_yuan = StringField(_l("Refund (CNY)"), render_kw=MONEY)
    method = SelectField(_l("How"), choices=[("bank_transfer", _l("Bank transfer I sent back")),
                                            ("stripe", _l("Card refund through Stripe"))])
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)],
                           render_kw={"rows": 2})
    submit = SubmitField(_l("Refund"))


class BankAccountForm(FlaskForm):
    bank_name = StringField(_l("Bank (and branch)"), validators=[Optional(), Length(max=200)])
    account_name = StringField(_l("Account name"), validators=[Optional(), Length(max=200)])
    account_number = StringField(_l("Account number"), validators=[Optional(), Length(max=64)])
    submit = SubmitField(_l("Save the bank account"))


class StatementForm(FlaskForm):
    file = FileField(_l("Bank statement (CSV)"),
                     description=_l("Columns date, amount, reference (or 日期, 金额, 附言); optional "
                                    "transaction_id (流水号) and payer (付款人). UTF-8 or GB18030."))
    submit = SubmitField(_l("Import"))


class PoolForm(FlaskForm):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    kind = SelectField(_l("Pool kind"), choices=list(KIND_LABELS.items()))
    rule = SelectField(_l("Split"), choices=list(RULE_LABELS.items()))
    lines = TextAreaField(
        _l("Cost lines"), render_kw={"rows": 4},
        description=_l("One per line: description | amount in yuan | checklist item (1-24, "
                       "required for one-off costs), e.g. Brine tank | 10000 | 12"))
    submit = SubmitField(_l("Save the cost pool"))

    def fill(self, pool) -> None:
        self.name.data, self.kind.data, self.rule.data = pool.name, pool.kind, pool.rule
        self.lines.data = "\n".join(
            " | ".join(str(x) for x in (line["description"], yuan_from_fen(line["amount_fen"]),
                                        line.get("checklist_item") or "")).rstrip(" |")
            for line in pool.lines)

    def pool_data(self, weights: dict[str, str]) -> dict:
        errors: dict[str, list] = {}
        lines = []
        for number, raw in enumerate((self.lines.data or "").splitlines(), 1):
            if not raw.strip():
                continue
            parts = [p.strip() for p in raw.split("|")]
            description, amount = parts[0], parts[1] if len(parts) > 1 else ""
            item = parts[2] if len(parts) > 2 and parts[2] else None
            try:
                fen = fen_from_yuan(amount)
            except ValueError:
                errors.setdefault("lines", []).append(
                    _("line %(n)s: %(problem)s", n=number, problem=MONEY_HINT))
                continue
            if item is not None and not item.isdigit():
                errors.setdefault("lines", []).append(
                    _("line %(n)s: the checklist item is a number from 1 to 24", n=number))
                continue
            lines.append({"description": description, "amount_fen": fen,
                          "checklist_item": int(item) if item else None})
        if errors:
            raise ValidationFailed(_("Some fields need correcting."), errors)
        data = {"name": self.name.data, "kind": self.kind.data, "rule": self.rule.data,
                "lines": lines}
        if self.rule.data == cost_sharing.CUSTOM:
            data["custom_weights"] = {k: v for k, v in weights.items() if v.strip()}
        return data


class PeriodForm(FlaskForm):
    period = SelectField(_l("Billing period"), choices=list(PERIOD_LABELS.items()))
    submit = SubmitField(_l("Set"))


def _pool_errors(form: PoolForm, error: ServiceError) -> None:
    """The service names lines by index (lines.0.amount_fen); here they are one text field.
    Every line's messages are kept, and the error keeps its kind so that a message without a
    field here (custom_weights) is shown above the form."""
    fields: dict[str, list] = {}
    for key, messages in (error.fields or {}).items():
        messages = messages if isinstance(messages, list) else [messages]
        if key.startswith("lines."):
            fields.setdefault("lines", []).extend(f"{key.split('.')[1]}: {m}" for m in messages)
        else:
            fields.setdefault(key, []).extend(messages)
    show_errors(form, type(error)(error.message, fields))


# --- helpers ----------------------------------------------------------------------------------

def _membership():
    membership = current_membership()
    if membership is None:
        abort(403)
    return membership


def _manages(organization_id: int) -> bool:
    membership = permissions.membership_of(current_user, organization_id)
    return bool(membership and permissions.can(current_user, "billing.manage", membership.organization))


@bp.app_template_global()
def overdue_invoices() -> list:
    """The dashboard's overdue card: open invoices past due the organization issued or owes."""
    membership = current_membership()
    if membership is None or membership.organization.kind not in (OrgKind.PROVIDER,
                                                                  OrgKind.MANUFACTURER):
        return []
    return invoices.overdue_for([membership.organization_id], china_today())


# --- invoices -----------------------------------------------------------------------------------

@bp.get("/invoices")
@login_required
def invoice_list():
    actor, operator = current_actor(), permissions.is_operator(current_actor())
    organization_id = None if operator else _membership().organization_id
    role = request.args.get("role", "")
    page = requested_page()
    try:
        rows, total = invoices.list_for(actor, organization_id=organization_id, role=role or None,
                                        page=page, per_page=PER_PAGE)
    except ValidationFailed as error:  # a hand-edited link: say so, show them all
        flash(f"{error.message} " + " ".join(str(m) for m in error.fields.get("role", [])), "error")
        role = ""
        rows, total = invoices.list_for(actor, organization_id=organization_id, page=page,
                                        per_page=PER_PAGE)
    return render_template("billing/invoices.html", rows=rows, role=role, operator=operator,
                           total=total, page=page, per_page=PER_PAGE,
                           organization_id=organization_id, today=china_today(),
                           states={i.id: invoices.payment_state(i) for i in rows}, **_labels())


def _invoice_page(invoice, status: int = 200, **forms):
    operator = permissions.is_operator(current_actor())
    organization_id = None if operator else _membership().organization_id
    payee = _manages(invoice.issuer_id)
    transfer_form = forms.get("transfer_form") or TransferForm(prefix="transfer")
    if not transfer_form.received_on.data:
        transfer_form.received_on.data = china_today().isoformat()
    refund_form = forms.get("refund_form") or RefundForm(prefix="refund")
    if not refund_form.amount_yuan.data and invoice.outstanding_fen < 0:
        refund_form.amount_yuan.data = yuan_from_fen(-invoice.outstanding_fen)
    context = {
        "invoice": invoice, "state": invoices.payment_state(invoice), "today": china_today(),
        "bank": bank_transfer.PROVIDER.instructions(invoice),
        "card": stripe_provider.PROVIDER.available() and invoice.status.value == "open"
        and invoice.outstanding_fen > 0 and bool(permissions.membership_of(current_user,
                                                                          invoice.customer_id)),
        "may_record": operator or payee, "operator": operator,
        "may_refund": invoice.outstanding_fen < 0 and (operator or payee),
        "customer_side": organization_id == invoice.customer_id,
        "entries": _entries_shown(invoice, None if operator else organization_id),
        "transfer_form": transfer_form, "refund_form": refund_form,
        "credit_form": forms.get("credit_form") or CreditForm(prefix="credit"),
        "write_off_form": forms.get("write_off_form") or WriteOffForm(prefix="writeoff"),
        "outcome": forms.get("outcome"),
    }
    return render_template("billing/invoice.html", **context, **_labels()), status


def _entries_shown(invoice, organization_id: int | None) -> list[tuple]:
    """The invoice's ledger entries on the reader's own accounts (every entry for operators):
    a customer does not see the provider's platform fee."""
    return [(t, e) for t in invoices.transactions_of(invoice) for e in t.entries
            if organization_id is None or e.organization_id == organization_id]


@bp.get("/invoices/<int:invoice_id>")
@login_required
def invoice_detail(invoice_id: int):
    return _invoice_page(invoices.get_visible(current_actor(), invoice_id))


@bp.get("/invoices/<int:invoice_id>.pdf")
@login_required
def invoice_pdf_download(invoice_id: int):
    invoice = invoices.get_visible(current_actor(), invoice_id)
    lang = "en" if request.args.get("lang", "zh").startswith("en") else "zh"
    response = Response(invoice_pdf.render_invoice(invoice, lang), mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{invoice.number}-{lang}.pdf"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _back(invoice_id: int):
    return redirect(url_for("billing.invoice_detail", invoice_id=invoice_id))


@bp.post("/invoices/<int:invoice_id>/transfers")
@login_required
def record_transfer(invoice_id: int):
    actor = current_actor()
    form = TransferForm(prefix="transfer")
    status = 422
    if form.validate_on_submit():
        result, error = committed(lambda: bank_transfer.record_transfer(
            actor, invoice_id, amount_fen=_fen(form, "amount_yuan"),
            received_on=form.received_on.data, reference=form.reference.data))
        if error:
            show_errors(form, error, {"amount_fen": "amount_yuan"})
            status = error.status
        else:
            message = OUTCOME_MESSAGES.get(result["outcome"])
            left = max(result["outstanding_fen"], 0)
            flash(str(message) % {"left": _yuan(left), "over": _yuan(-result["outstanding_fen"])}
                  if message else _("Transfer recorded."), "success")
            return _back(invoice_id)
    return _invoice_page(invoices.get_visible(actor, invoice_id), status, transfer_form=form)


def _yuan(fen: int) -> str:
    from flask_babel import format_currency

    return format_currency(fen / 100, "CNY")


@bp.post("/invoices/<int:invoice_id>/pay-by-card")
@login_required
def pay_by_card(invoice_id: int):
    """Create (or find) the invoice's PaymentIntent; the card page confirms it with Stripe.js.
    Only the webhook marks the invoice paid."""
    if not ActionForm().validate_on_submit() or not stripe_provider.PROVIDER.available():
        abort(400)
    actor = current_actor()
    invoice = invoices.get_visible(actor, invoice_id, for_update=True)
    started, error = committed(lambda: stripe_provider.PROVIDER.start(actor, invoice), catching=Conflict)
    if error:  # nothing left to pay, or Stripe unreachable
        flash(str(error.message), "error")
        return _back(invoice_id)
    return render_template("billing/card.html", invoice=invoice, started=started,
                           intent_labels=INTENT_LABELS)


def _operator_step(invoice_id: int, form: FlaskForm, name: str, step, done):
    """Run an operator's step on an invoice: flash `done` and go back to the invoice, or show
    the invoice page again with `form` (under `name`) carrying the errors."""
    status = 422
    if form.validate_on_submit():
        _done, error = committed(step)
        if error:
            show_errors(form, error, {"amount_fen": "amount_yuan"})
            status = error.status
        else:
            flash(done, "success")
            return _back(invoice_id)
    return _invoice_page(invoices.get_visible(current_actor(), invoice_id), status, **{name: form})


@bp.post("/invoices/<int:invoice_id>/write-off")
@login_required
def write_off(invoice_id: int):
    form = WriteOffForm(prefix="writeoff")
    return _operator_step(invoice_id, form, "write_off_form",
                          lambda: invoices.write_off(current_actor(), invoice_id, form.reason.data),
                          _("Written off."))


@bp.post("/invoices/<int:invoice_id>/credit-notes")
@login_required
def credit(invoice_id: int):
    form = CreditForm(prefix="credit")
    return _operator_step(invoice_id, form, "credit_form", lambda: invoices.credit(
        current_actor(), invoice_id, _fen(form, "amount_yuan"), form.reason.data),
        _("Credit note issued."))


@bp.post("/invoices/<int:invoice_id>/refunds")
@login_required
def refund(invoice_id: int):
    from services.payments import refunds

    form = RefundForm(prefix="refund")
    return _operator_step(invoice_id, form, "refund_form", lambda: refunds.refund_overpayment(
        current_actor(), invoice_id, amount_fen=_fen(form, "amount_yuan"), method=form.method.data,
        reason=form.reason.data), _("Refund recorded."))


# --- statement, bank account, statement import -------------------------------------------------

@bp.get("/statement")
@login_required
def statement():
    organization = _membership().organization
    if not (permissions.can(current_user, "billing.view", organization)
            or permissions.is_operator(current_actor())):
        abort(403)
    # A statement is read by period: this year by default, its opening balance carried in
    # (a provider invoicing hundreds of allocations a month would otherwise get every line ever).
    period, errors = {}, {}
    for name, default in (("from", date(china_today().year, 1, 1)), ("until", None)):
        raw = request.args.get(name, "").strip()
        try:
            period[name] = date.fromisoformat(raw) if raw else default
        except ValueError:
            period[name], errors[name] = default, _("must be a date, e.g. 2026-01-31")
    if period["from"] and period["until"] and period["until"] < period["from"]:
        errors["until"] = _("must not be before the start")
        period["until"] = None
    result = ledger.statement(organization.id, start=period["from"],
                              end=period["until"] + timedelta(days=1) if period["until"] else None)
    return render_template("billing/statement.html", organization=organization, period=period,
                           errors=errors, balance=ledger.balance_of(organization.id),
                           accounts=ledger.accounts_of(organization.id), **result,
                           **_labels()), 400 if errors else 200


def _provider_org():
    organization = _membership().organization
    if organization.kind is not OrgKind.PROVIDER:
        abort(403)
    return organization


@bp.route("/bank-account", methods=["GET", "POST"])
@login_required
def bank_account():
    organization = _provider_org()
    form = BankAccountForm()
    status = 200
    if form.validate_on_submit():
        details = {"bank_name": form.bank_name.data, "account_name": form.account_name.data,
                   "account_number": form.account_number.data}
        _done, error = committed(lambda: bank_transfer.set_bank_details(current_actor(), organization.id,
                                                                        details),
                                 catching=(ValidationFailed, PermissionDenied))
        if error:
            show_errors(form, error)
            status = error.status
        else:
            flash(_("Bank account saved: it is printed on your invoices."), "success")
            return redirect(url_for("billing.bank_account"))
    elif form.is_submitted():
        status = 422
    else:
        saved = db.session.get(PayeeBankAccount, organization.id)
        if saved is not None:
            form.bank_name.data, form.account_name.data = saved.bank_name, saved.account_name
            form.account_number.data = saved.account_number
    return render_template("billing/bank_account.html", form=form, organization=organization,
                           may=_manages(organization.id), action_form=ActionForm(),
                           stripe=stripe_provider.PROVIDER.available(),
                           connected=stripe_provider.connected_account_of(organization.id)), status


@bp.post("/stripe-onboarding")
@login_required
def stripe_onboarding():
    """Create (once) the provider's Stripe connected account and send its manager to Stripe's
    onboarding; Stripe sends them back to the bank account page."""
    organization = _provider_org()
    if not ActionForm().validate_on_submit() or not stripe_provider.PROVIDER.available():
        abort(400)
    back = url_for("billing.bank_account", _external=True)
    link, error = committed(lambda: stripe_provider.onboard(current_actor(), organization.id,
                                                            refresh_url=back, return_url=back),
                            catching=stripe_provider.Unavailable)
    if error:
        flash(str(error.message), "error")
        return redirect(url_for("billing.bank_account"))
    return redirect(link)


@bp.route("/bank-statements", methods=["GET", "POST"])
@login_required
def import_statement():
    operator = permissions.is_operator(current_actor())
    organization = _membership().organization
    if not operator and organization.kind is not OrgKind.PROVIDER:
        abort(403)
    form = StatementForm()
    result, status = None, 200
    if form.validate_on_submit():
        upload = form.file.data
        raw = upload.read() if upload else b""
        result, error = committed(lambda: bank_statements.import_statement(
            current_actor(), None if operator else organization.id, decode_upload(raw)),
            catching=(ValidationFailed, PermissionDenied))
        if error:
            form.form_errors.append(str(error.message))
            form.line_errors = [(where, [str(m) for m in messages])
                                for where, messages in (error.fields or {}).items()]
            status = error.status
    elif form.is_submitted():
        status = 422
    return render_template("billing/import.html", form=form, result=result, **_labels()), status


# --- an agreement's cost pools (included in the agreement page) -------------------------------

@bp.app_template_global()
def agreement_costs(agreement) -> dict:
    """What the agreement page shows of costs: the pools as proposed and their split per maker
    (what the next version to sign says), the pools frozen in the version in force, the billing
    period, and the forms for the parties who manage billing."""
    actor = current_actor()
    pool_form, failed_pool = g.get("costs_form"), g.get("costs_failed_pool")
    proposed = cost_pools.preview(actor, agreement.id)
    in_force = agreements.version_in_force(agreement)
    party_ids = agreements._parties(agreement)
    may = agreement.status in agreements.OPEN and any(_manages(p) for p in party_ids)
    names = {a.manufacturer_id: a.manufacturer.legal_name for a in agreement.allocations}
    rows = cost_pools.pools_of(agreement.id)
    edit_forms = {}
    for pool in rows:
        form = pool_form if (pool_form is not None and failed_pool == pool.id) else None
        if form is None:
            form = PoolForm(formdata=None, prefix=f"pool{pool.id}")
            form.fill(pool)
        edit_forms[pool.id] = form
    period_form = PeriodForm(formdata=None, prefix="period")
    period_form.period.data = invoices.billing_period(agreement.id)
    makers = sorted({a.manufacturer_id for a in agreement.allocations
                     if a.status in agreements.HOLDS_CAPACITY})
    return {
        "proposed": proposed, "pools": rows, "names": names, "makers": makers,
        "in_force": (in_force.document.get("cost_pools") or []) if in_force else [],
        "in_force_version": in_force.version if in_force else None,
        "period": invoices.billing_period(agreement.id), "may": may,
        "new_form": pool_form if (pool_form is not None and failed_pool is None)
        else PoolForm(formdata=None, prefix="pool"),
        "edit_forms": edit_forms, "period_form": period_form, "action_form": ActionForm(),
        "tie_break": _("on equal remainders, the party with the lower id gets the extra fen first"),
        "invoices": invoices.list_for(actor, agreement_id=agreement.id)[0],
        **_labels(),
    }


def _weights() -> dict[str, str]:
    return {key.split("-", 1)[1]: value for key, value in request.form.items()
            if key.startswith("weight-") and key.split("-", 1)[1].isdigit()}


def _agreement_with(agreement_id: int, form: PoolForm, failed_pool: int | None, status: int):
    """The agreement page again, its costs section showing the refused form with its messages
    (the include reads them from `g`: the contracts view stays unaware of billing)."""
    from app.web import contracts

    g.costs_form, g.costs_failed_pool = form, failed_pool
    return contracts._agreement_page(agreements.get_visible(current_actor(), agreement_id), status)


def _to_agreement(agreement_id: int):
    return redirect(url_for("contracts.agreement_detail", agreement_id=agreement_id) + "#costs")


@bp.post("/agreements/<int:agreement_id>/cost-pools")
@login_required
def create_pool(agreement_id: int):
    return _save_pool(agreement_id, None)


@bp.post("/agreements/<int:agreement_id>/cost-pools/<int:pool_id>")
@login_required
def update_pool(agreement_id: int, pool_id: int):
    return _save_pool(agreement_id, pool_id)


def _save_pool(agreement_id: int, pool_id: int | None):
    form = PoolForm(prefix=f"pool{pool_id}" if pool_id else "pool")
    status = 422
    if form.validate_on_submit():
        def save():
            data = form.pool_data(_weights())  # a badly typed line is refused like the service's refusals
            if pool_id is None:
                return cost_pools.create(current_actor(), agreement_id, data)
            return cost_pools.update(current_actor(), agreement_id, pool_id, data)

        _done, error = committed(save)
        if error:
            _pool_errors(form, error)
            status = error.status
        else:
            flash(_("Cost pool saved. The agreement is re-issued as a new version: every party "
                    "signs the new split."), "success")
            return _to_agreement(agreement_id)
    return _agreement_with(agreement_id, form, pool_id, status)


@bp.post("/agreements/<int:agreement_id>/cost-pools/<int:pool_id>/delete")
@login_required
def delete_pool(agreement_id: int, pool_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    _done, error = committed(lambda: cost_pools.delete(current_actor(), agreement_id, pool_id),
                             catching=Conflict)
    if error:
        flash(str(error.message), "error")
    else:
        flash(_("Cost pool removed. The agreement is re-issued as a new version to sign."), "success")
    return _to_agreement(agreement_id)


@bp.post("/agreements/<int:agreement_id>/billing-period")
@login_required
def set_period(agreement_id: int):
    form = PeriodForm(prefix="period")
    if not form.validate_on_submit():
        flash(_("Unknown billing period."), "error")
        return _to_agreement(agreement_id)
    _done, error = committed(lambda: invoices.set_billing_period(current_actor(), agreement_id,
                                                                form.period.data))
    if error:
        flash(str(error.message), "error")
    else:
        flash(_("Billing period set."), "success")
    return _to_agreement(agreement_id)
