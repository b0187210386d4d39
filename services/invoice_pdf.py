"""An invoice as a PDF in Chinese or English (reportlab, A4; the agreement's fonts and styles)."""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4
from reportlab.platypus import SimpleDocTemplate, Spacer

from services.agreement_pdf import (
    CONTENT_WIDTH,
    MARGIN,
    _p,
    _pick,
    _register_fonts,
    _Styles,
    _table,
    format_yuan,
)
from services.certificate_pdf import FONT

LABELS = {
    "title": ("发票（服务费用结算单）", "Invoice"),
    "number": ("发票编号", "Invoice No."),
    "issued_on": ("开具日期", "Date of issue"),
    "due_on": ("付款期限", "Due date"),
    "period": ("结算期间", "Billing period"),
    "agreement": ("协议编号", "Agreement No."),
    "issuer": ("开票方（收款方）", "Issuer (payee)"),
    "customer": ("付款方", "Customer"),
    "credit_code": ("统一社会信用代码", "Unified social credit code"),
    "line": ("项目", "Item"),
    "amount": ("金额（不含税）", "Net amount"),
    "net": ("不含税金额", "Net"),
    "tax": ("增值税（%(rate)s）", "VAT (%(rate)s)"),
    "gross": ("价税合计", "Gross"),
    "paid": ("已付", "Paid"),
    "outstanding": ("未付余额", "Outstanding"),
    "pay_by_transfer": ("银行转账付款信息", "Pay by bank transfer"),
    "bank": ("开户银行", "Bank"),
    "account_name": ("户名", "Account name"),
    "account_number": ("账号", "Account number"),
    "reference": ("付款附言（必填）", "Payment reference (required)"),
    "no_bank": ("收款方尚未登记银行账户。", "The payee has not registered a bank account yet."),
    "status": ("状态", "Status"),
}
STATUS = {"open": ("待付款", "Open"), "paid": ("已付清", "Paid"),
          "written_off": ("已核销", "Written off"), "credited": ("已红冲", "Credited")}


def _label(key: str, lang: str) -> str:
    return _pick(LABELS[key], lang)


def render(invoice: dict, lang: str = "zh") -> bytes:
    """`invoice`: plain values (see `values_of`)."""
    _register_fonts()
    styles = _Styles(lang)
    buffer = io.BytesIO()
    template = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN,
                                 topMargin=48, bottomMargin=56, invariant=1, initialFontName=FONT,
                                 title=f"{invoice['number']} {_label('title', lang)}", author="OutletPool")
    money = lambda fen: format_yuan(fen, lang)  # noqa: E731
    cell, number = styles.cell, styles.number
    rate = f"{invoice['tax_rate_bp'] / 100:g} %"
    details = [[_p(_label(k, lang), styles.header), _p(v, cell)] for k, v in (
        ("number", invoice["number"]), ("issued_on", invoice["issued_on"]),
        ("due_on", invoice["due_on"]), ("period", invoice["period"]),
        ("agreement", invoice["agreement"]), ("status", _pick(STATUS[invoice["status"]], lang)))]
    parties = [[_p(_label("issuer", lang), styles.header), _p(invoice["issuer"], cell),
                _p(invoice["issuer_credit_code"], cell)],
               [_p(_label("customer", lang), styles.header), _p(invoice["customer"], cell),
                _p(invoice["customer_credit_code"], cell)]]
    lines = [[_p(_label("line", lang), styles.header), _p(_label("amount", lang), styles.header)]] + [
        [_p(line["en"] if lang == "en" else line["zh"], cell), _p(money(line["net_fen"]), number)]
        for line in invoice["lines"]]
    totals = [[_p(label, styles.header), _p(money(value), number)] for label, value in (
        (_label("net", lang), invoice["net_fen"]),
        (_pick(LABELS["tax"], lang) % {"rate": rate}, invoice["tax_fen"]),
        (_label("gross", lang), invoice["gross_fen"]), (_label("paid", lang), invoice["paid_fen"]),
        (_label("outstanding", lang), invoice["outstanding_fen"]))]
    bank = invoice.get("bank") or {}
    if bank.get("account_number"):
        transfer = [[_p(_label(k, lang), styles.header), _p(bank[k2], cell)] for k, k2 in (
            ("bank", "bank_name"), ("account_name", "account_name"),
            ("account_number", "account_number"), ("reference", "reference"))]
        transfer_part = [_table(transfer, [CONTENT_WIDTH * 0.35, CONTENT_WIDTH * 0.65], header=False)]
    else:
        transfer_part = [_p(_label("no_bank", lang), styles.note),
                         _p(f"{_label('reference', lang)}: {invoice['reference']}", styles.body)]
    story = [
        _p(_label("title", lang), styles.title), Spacer(1, 8),
        _table(details, [CONTENT_WIDTH * 0.3, CONTENT_WIDTH * 0.7], header=False), Spacer(1, 8),
        _table(parties, [CONTENT_WIDTH * 0.2, CONTENT_WIDTH * 0.5, CONTENT_WIDTH * 0.3], header=False),
        Spacer(1, 8), _table(lines, [CONTENT_WIDTH * 0.75, CONTENT_WIDTH * 0.25]), Spacer(1, 6),
        _table(totals, [CONTENT_WIDTH * 0.75, CONTENT_WIDTH * 0.25], header=False),
        _p(_label("pay_by_transfer", lang), styles.heading), *transfer_part,
    ]
    template.build(story)
    return buffer.getvalue()


def values_of(invoice) -> dict:
    from services.payments import bank_transfer

    last_day = invoice.period_end.toordinal() - 1
    from datetime import date

    return {
        "number": invoice.number, "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "period": f"{invoice.period_start.isoformat()} – {date.fromordinal(last_day).isoformat()}",
        "agreement": invoice.agreement.number, "status": invoice.status.value,
        "issuer": invoice.issuer.legal_name, "issuer_credit_code": invoice.issuer.credit_code,
        "customer": invoice.customer.legal_name, "customer_credit_code": invoice.customer.credit_code,
        "lines": [{"zh": line.description_zh, "en": line.description_en, "net_fen": line.net_fen}
                  for line in invoice.lines],
        "tax_rate_bp": invoice.tax_rate_bp, "net_fen": invoice.net_fen, "tax_fen": invoice.tax_fen,
        "gross_fen": invoice.gross_fen, "paid_fen": invoice.paid_fen,
        "outstanding_fen": invoice.outstanding_fen, "reference": invoice.payment_reference,
        "bank": bank_transfer.PROVIDER.instructions(invoice),
    }


def render_invoice(invoice, lang: str = "zh") -> bytes:
    return render(values_of(invoice), "en" if lang.startswith("en") else "zh")
