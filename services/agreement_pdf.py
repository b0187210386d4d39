"""A co-building agreement version as a PDF: plain values in, bytes out (reportlab, A4).

Unlike the certificate, the agreement is rendered in one language per reader (`lang`),
since the parties read and sign it themselves; legal names stay as given, so Chinese must
render in both. Text flows across as many pages as the allocations and terms need. Every
page's footer carries the document's SHA-256, the value each signature is made over, so a
single printed page can be matched to the signed text, plus "page x of y".

The fonts are the certificate's: the embedded WenQuanYi subset, with characters outside it
drawn in the STSong-Light CID font (`<font>` runs inside each paragraph).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from xml.sax.saxutils import escape

from reportlab.lib.colors import Color, black, white
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from services.certificate_pdf import FALLBACK_FONT, FONT, _Page, _register_fonts, _runs

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 50
FOOTER_Y = 28
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

INK = Color(0.11, 0.20, 0.33)
MUTED = Color(0.35, 0.38, 0.42)
ALERT = Color(0.70, 0.11, 0.11)
RULE = Color(0.78, 0.80, 0.84)
HEADER_FILL = Color(0.91, 0.93, 0.96)

TITLE = ("新能源汽车动力蓄电池回收服务网点共建共享协议",
         "Co-building and Sharing Agreement for an NEV Traction Battery Recycling Service Outlet")
OUTLET_TYPES = {
    "collection": ("收集型回收服务网点", "Collection-type recycling service outlet"),
    "centralized_storage": ("集中贮存型回收服务网点", "Centralized-storage recycling service outlet"),
}
FORMS = {
    "co_built": ("共建", "Co-built"),
    "authorized": ("授权", "Authorized"),
    "shared_use": ("共用", "Shared use"),
}
ROLES = {
    "provider": ("服务网点运营方", "Outlet operator"),
    "manufacturer": ("汽车生产企业", "Vehicle manufacturer"),
    "all": ("各方", "All parties"),
}
REASONS = {
    "initial": ("首次签订", "first issue"),
    "join": ("新制造商加入", "a manufacturer joins"),
    "renewal": ("续期", "renewal"),
    "reissue": ("条款变更后重新出具", "re-issued after a change of terms"),
    "costs": ("费用变更", "Cost change"),
}
STATUS_BANNERS = {
    "pending": ("待签署 — 尚未生效", "PENDING SIGNATURES — not in force"),
    "superseded": ("已被新版本取代", "SUPERSEDED by a later version"),
    "replaced": ("已被重新出具的版本替换，未生效", "REPLACED by a re-issued version: never in force"),
    "lapsed": ("未按期签署，已失效", "LAPSED: not signed in time"),
}
IN_FORCE = "in_force"

# (zh, en) pairs for every fixed string on the page
LABELS = {
    "number": ("协议编号", "Agreement No."),
    "version": ("版本", "Version"),
    "reason": ("出具原因", "Reason for this version"),
    "issued_on": ("出具日期", "Date of issue"),
    "terms_version": ("条款版本", "Terms version"),
    "outlet": ("一、回收服务网点", "1. The recycling service outlet"),
    "outlet_name": ("网点名称", "Name"),
    "outlet_address": ("地址", "Address"),
    "outlet_type": ("网点类型", "Type"),
    "outlet_city": ("所在城市", "City"),
    "parties": ("二、协议各方", "2. The parties"),
    "role": ("角色", "Role"),
    "legal_name": ("单位名称", "Legal name"),
    "credit_code": ("统一社会信用代码", "Unified social credit code"),
    "allocations": ("三、能力分配与费用", "3. Capacity allocated and fees"),
    "manufacturer": ("汽车生产企业", "Manufacturer"),
    "tonnes": ("年处理能力（吨）", "Tonnes per year"),
    "form": ("合作形式", "Form"),
    "start": ("起始日期", "Start"),
    "end": ("截止日期", "End"),
    "annual_fee": ("年费", "Annual fee"),
    "handling_fee": ("处理费（每吨）", "Handling fee per tonne"),
    "no_allocations": ("本版本无能力分配。", "This version allocates no capacity."),
    "cost_pools": ("共同分摊费用", "Shared costs"),
    "cost_line": ("费用明细", "Cost line"),
    "amount": ("金额", "Amount"),
    "pool_total": ("总额", "Total"),
    "share": ("分摊金额", "Share"),
    "weight": ("权重", "Weight"),
    "checklist_item": ("检查项", "checklist item"),
    "responsibilities": ("四、各方责任", "4. Responsibilities"),
    "binds": ("责任方", "Binds"),
    "source": ("依据", "Source"),
    "signatures": ("五、签署记录", "5. Signatures"),
    "organization": ("签署单位", "Organization"),
    "signer": ("签署人", "Signer"),
    "signed_at": ("签署时间", "Signed at"),
    "ip_address": ("IP 地址", "IP address"),
    "hash_signed": ("所签文本 SHA-256", "SHA-256 signed"),
    "awaiting": ("待签署", "Awaiting signature"),
    "hash_mismatch": ("与本文件不符", "does not match this document"),
    "document_hash": ("文件 SHA-256", "Document SHA-256"),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def _label(key: str, lang: str) -> str:
    return _pick(LABELS[key], lang)


def format_yuan(fen: int, lang: str = "zh") -> str:
    """Integer fen as yuan with two decimals and thousands separators: ¥12,000.00."""
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    prefix = "CNY " if lang == "en" else "¥"
    return f"{sign}{prefix}{yuan:,}.{cents:02d}"


def format_tonnes(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.3f}".rstrip("0").rstrip(".")


def _markup(text: object) -> str:
    """Paragraph markup for plain text: escaped, with runs the embedded font lacks set in
    the fallback CID font."""
    parts = []
    for font, segment in _runs("" if text is None else str(text)):
        escaped = escape(segment).replace("\n", "<br/>")
        parts.append(escaped if font == FONT else f'<font face="{FALLBACK_FONT}">{escaped}</font>')
    return "".join(parts)


class _Styles:
    def __init__(self, lang: str):
        # CJK wrapping breaks between any two characters; English text breaks at spaces and
        # splits only a word too long for its cell (a hash, a Chinese legal name).
        wrap = "CJK" if lang == "zh" else None
        base = ParagraphStyle("base", fontName=FONT, fontSize=9.5, leading=13.5, wordWrap=wrap,
                              splitLongWords=1, textColor=black)
        self.body = base
        self.title = ParagraphStyle("title", base, fontSize=17, leading=23, alignment=TA_CENTER,
                                    textColor=INK, spaceAfter=4)
        self.subtitle = ParagraphStyle("subtitle", base, fontSize=10, leading=14, alignment=TA_CENTER,
                                       textColor=MUTED)
        self.heading = ParagraphStyle("heading", base, fontSize=12.5, leading=17, textColor=INK,
                                      spaceBefore=12, spaceAfter=6)
        self.cell = ParagraphStyle("cell", base, fontSize=8.5, leading=11.5)
        self.header = ParagraphStyle("header", self.cell, textColor=INK)
        self.number = ParagraphStyle("number", self.cell, alignment=TA_RIGHT)
        self.small = ParagraphStyle("small", self.cell, fontSize=6.5, leading=8.5, textColor=MUTED,
                                    wordWrap="CJK")  # hashes break anywhere
        self.note = ParagraphStyle("note", base, fontSize=8.5, leading=12, textColor=MUTED)
        self.banner = ParagraphStyle("banner", base, fontSize=13, leading=18, alignment=TA_CENTER,
                                     textColor=white)


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(_markup(text), style)


def _table(rows: list[list[Flowable]], widths: list[float], *, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL))
    table.setStyle(TableStyle(style))
    return table


def _banner(text: str, styles: _Styles) -> Table:
    table = Table([[_p(text, styles.banner)]], colWidths=[CONTENT_WIDTH])
    table.setStyle(TableStyle([
        ("BACKGROUND", (0, 0), (-1, -1), ALERT),
        ("TOPPADDING", (0, 0), (-1, -1), 6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
    ]))
    return table


def _status_text(status: str, lang: str) -> str | None:
    if status == IN_FORCE:
        return None
    pair = STATUS_BANNERS.get(status)
    if pair:
        return _pick(pair, lang)
    return f"状态：{status} — 未生效" if lang == "zh" else f"{status.upper()}: not in force"


def _heading_and_details(document: dict, lang: str, styles: _Styles, banner: str | None) -> list:
    story: list = [_p(_pick(TITLE, lang), styles.title)]
    reason = document.get("reason")
    reason_text = _pick(REASONS[reason], lang) if reason in REASONS else (reason or "—")
    story.append(_p(f"{_label('number', lang)} {document['number']}    "
                    f"{_label('version', lang)} {document['version']}", styles.subtitle))
    story.append(Spacer(1, 8))
    if banner:
        story += [_banner(banner, styles), Spacer(1, 8)]
    details = [
        ("reason", reason_text),
        ("issued_on", document.get("issued_on") or "—"),
        ("terms_version", document.get("terms_version") or "—"),
    ]
    rows = [[_p(_label(key, lang), styles.header), _p(value, styles.cell)] for key, value in details]
    story.append(_table(rows, [150, CONTENT_WIDTH - 150], header=False))
    return story


def _outlet(document: dict, lang: str, styles: _Styles) -> list:
    outlet = document.get("outlet") or {}
    kind = outlet.get("type")
    kind_text = _pick(OUTLET_TYPES[kind], lang) if kind in OUTLET_TYPES else (kind or "—")
    city = " ".join(str(part) for part in (outlet.get("city_name"), outlet.get("city_code")) if part)
    details = [
        ("outlet_name", outlet.get("name") or "—"),
        ("outlet_address", outlet.get("address") or "—"),
        ("outlet_type", kind_text),
        ("outlet_city", city or "—"),
    ]
    rows = [[_p(_label(key, lang), styles.header), _p(value, styles.cell)] for key, value in details]
    return [_p(_label("outlet", lang), styles.heading),
            _table(rows, [150, CONTENT_WIDTH - 150], header=False)]


def _role(role: str | None, lang: str) -> str:
    return _pick(ROLES[role], lang) if role in ROLES else (role or "—")


def _parties(document: dict, lang: str, styles: _Styles) -> list:
    rows = [[_p(_label(key, lang), styles.header) for key in ("role", "legal_name", "credit_code")]]
    for party in document.get("parties", []):
        rows.append([_p(_role(party.get("role"), lang), styles.cell),
                     _p(party.get("legal_name") or "—", styles.cell),
                     _p(party.get("credit_code") or "—", styles.cell)])
    return [_p(_label("parties", lang), styles.heading), _table(rows, [110, 245, 140])]


def _allocations(document: dict, lang: str, styles: _Styles) -> list:
    story: list = [_p(_label("allocations", lang), styles.heading)]
    allocations = document.get("allocations", [])
    if allocations:
        keys = ("manufacturer", "tonnes", "form", "start", "end", "annual_fee", "handling_fee")
        rows = [[_p(_label(key, lang), styles.header) for key in keys]]
        for item in allocations:
            maker = item.get("manufacturer") or {}
            form = item.get("form")
            rows.append([
                _p(maker.get("legal_name") or item.get("manufacturer_id") or "—", styles.cell),
                _p(format_tonnes(item.get("tonnes_per_year")), styles.number),
                _p(_pick(FORMS[form], lang) if form in FORMS else (form or "—"), styles.cell),
                _p(item.get("start_date") or "—", styles.cell),
                _p(item.get("end_date") or "—", styles.cell),
                _p(format_yuan(item.get("annual_fee_fen") or 0, lang), styles.number),
                _p(format_yuan(item.get("handling_fee_fen_per_t") or 0, lang), styles.number),
            ])
        story.append(_table(rows, [121, 50, 50, 56, 56, 84, 78]))
    else:
        story.append(_p(_label("no_allocations", lang), styles.body))
    allocated = document.get("allocated_t_per_year")
    offered = document.get("offered_t_per_year")
    share = ""
    if allocated is not None and offered:
        share = f"{allocated / offered * 100:.1f}%"
    if lang == "en":
        total = (f"Total allocated: {format_tonnes(allocated)} t/year of "
                 f"{format_tonnes(offered)} t/year offered" + (f" ({share})" if share else "") + ".")
    else:
        total = (f"合计已分配 {format_tonnes(allocated)} 吨/年，网点提供 {format_tonnes(offered)} 吨/年"
                 + (f"（{share}）" if share else "") + "。")
    story += [Spacer(1, 4), _p(total, styles.body)]
    return story


POOL_KINDS = {"one_off": ("一次性共建费用", "one-off co-building cost"),
              "recurring": ("每年运营费用", "operating cost per year")}
POOL_RULES = {"equal": ("平均分摊", "split equally"), "capacity": ("按分配能力比例", "pro rata capacity"),
              "parc": ("按网点所在城市保有量比例", "pro rata parc in the outlet's city"),
              "custom": ("按约定权重", "by agreed weights")}
TIE_BREAK = ("按最大余额法精确到分；余额相同时，编号较小的一方先得。",
             "Split to the fen by the largest remainder; equal remainders: the lower party id first.")


def _cost_pools(document: dict, lang: str, styles: _Styles) -> list:
    """The shared costs frozen in this version and each maker's share of them."""
    pools = document.get("cost_pools") or []
    if not pools:
        return []
    names = {(item.get("manufacturer") or {}).get("id"): (item.get("manufacturer") or {}).get("legal_name")
             for item in document.get("allocations", [])}
    story: list = [Spacer(1, 6), _p(_label("cost_pools", lang), styles.heading)]
    separator = "：" if lang == "zh" else ": "
    for pool in pools:
        kind, rule = pool.get("kind"), pool.get("rule")
        per = ("/年" if lang == "zh" else " per year") if pool.get("per") == "year" else ""
        story.append(_p(f"{pool.get('name') or '—'} · "
                        f"{_pick(POOL_KINDS[kind], lang) if kind in POOL_KINDS else kind} · "
                        f"{_pick(POOL_RULES[rule], lang) if rule in POOL_RULES else rule} · "
                        f"{_label('pool_total', lang)}{separator}"
                        f"{format_yuan(pool.get('total_fen') or 0, lang)}{per}", styles.body))
        rows = [[_p(_label("cost_line", lang), styles.header), _p(_label("amount", lang), styles.header)]]
        for line in pool.get("lines", []):
            item = line.get("checklist_item")
            text = line.get("description") or "—"
            if item:
                text += f"（{_label('checklist_item', lang)} {item}）" if lang == "zh" else \
                    f" ({_label('checklist_item', lang)} {item})"
            rows.append([_p(text, styles.cell), _p(format_yuan(line.get("amount_fen") or 0, lang),
                                                   styles.number)])
        story.append(_table(rows, [345, 150]))
        shares = [[_p(_label("manufacturer", lang), styles.header), _p(_label("weight", lang), styles.header),
                   _p(_label("share", lang), styles.header)]]
        for share in pool.get("shares", []):
            maker = share.get("manufacturer_id")
            shares.append([_p(names.get(maker) or maker, styles.cell),
                           _p(format_tonnes(share.get("weight")), styles.number),
                           _p(format_yuan(share.get("share_fen") or 0, lang) + per, styles.number)])
        story += [Spacer(1, 3), _table(shares, [265, 80, 150]), Spacer(1, 6)]
    story.append(_p(_pick(TIE_BREAK, lang), styles.note))
    return story


def _responsibilities(document: dict, lang: str, styles: _Styles) -> list:
    story: list = [_p(_label("responsibilities", lang), styles.heading)]
    item_style = ParagraphStyle("item", styles.body, leftIndent=16, firstLineIndent=-16, spaceBefore=4)
    note_style = ParagraphStyle("item_note", styles.note, leftIndent=16)
    separator = "：" if lang == "zh" else ": "
    for index, item in enumerate(document.get("responsibilities", []), start=1):
        text = item.get("en" if lang == "en" else "zh") or item.get("zh") or item.get("en") or ""
        story.append(Paragraph(f"{index}. " + _markup(text), item_style))
        story.append(_p(f"{_label('binds', lang)}{separator}{_role(item.get('party'), lang)}    "
                        f"{_label('source', lang)}{separator}{item.get('source') or '—'}", note_style))
    return story


def _signatures(document: dict, signatures: list[dict], document_sha256: str, lang: str,
                styles: _Styles) -> list:
    keys = ("organization", "signer", "signed_at", "ip_address", "hash_signed")
    rows = [[_p(_label(key, lang), styles.header) for key in keys]]
    awaiting_style = ParagraphStyle("awaiting", styles.cell, textColor=ALERT)
    mismatch_style = ParagraphStyle("mismatch", styles.small, textColor=ALERT)
    by_party: dict[object, list[dict]] = {}
    for signature in signatures:
        by_party.setdefault(signature.get("organization_id"), []).append(signature)
    party_ids = {party.get("id") for party in document.get("parties", [])}

    def signed_rows(party_label: str, found: list[dict]) -> None:
        for signature in found:
            signed_hash = signature.get("document_sha256") or "—"
            hash_cell = [_p(signed_hash, styles.small)]
            if signed_hash != document_sha256:
                hash_cell.append(_p(_label("hash_mismatch", lang), mismatch_style))
            rows.append([_p(party_label or signature.get("organization") or "—", styles.cell),
                         _p(signature.get("signer") or "—", styles.cell),
                         _p(signature.get("signed_at") or "—", styles.cell),
                         _p(signature.get("ip_address") or "—", styles.cell),
                         hash_cell])

    # In the parties' order: each party's signature, or a line saying it is still awaited.
    for party in document.get("parties", []):
        name = party.get("legal_name") or "—"
        label = f"{name}\n{party.get('credit_code') or ''}".strip()
        found = by_party.get(party.get("id"), [])
        if found:
            signed_rows(label, found)
        else:
            rows.append([_p(label, styles.cell), _p(_label("awaiting", lang), awaiting_style),
                         _p("—", styles.cell), _p("—", styles.cell), _p("—", styles.cell)])
    # A signature by an organization that is not a party would be a bug upstream; show it anyway.
    for organization_id, found in by_party.items():
        if organization_id not in party_ids:
            for signature in found:
                label = f"{signature.get('organization') or '—'}\n{signature.get('credit_code') or ''}"
                signed_rows(label.strip(), [signature])
    return [_p(_label("signatures", lang), styles.heading), _table(rows, [130, 60, 115, 70, 120])]


def _numbered_canvas(footer: Callable[[Canvas, int, int], None]) -> type[Canvas]:
    """A canvas that holds its pages back until the end, so each footer knows the page count."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict] = []

        def showPage(self):  # held back, not written yet
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._saved_pages)
            for number, state in enumerate(self._saved_pages, start=1):
                self.__dict__.update(state)
                footer(self, number, total)
                super().showPage()
            super().save()

    return NumberedCanvas


def _footer_painter(document: dict, document_sha256: str, status_text: str | None,
                    lang: str) -> Callable[[Canvas, int, int], None]:
    def paint(canvas: Canvas, number: int, total: int) -> None:
        page = _Page(canvas)
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, FOOTER_Y + 12, PAGE_WIDTH - MARGIN, FOOTER_Y + 12)
        pages = f"第 {number} 页，共 {total} 页" if lang == "zh" else f"Page {number} of {total}"
        separator = "：" if lang == "zh" else ": "
        page.text(MARGIN, FOOTER_Y, f"{_label('document_hash', lang)}{separator}{document_sha256}", 6.5,
                  color=MUTED)
        page.text(PAGE_WIDTH - MARGIN, FOOTER_Y, pages, 7.5, align="right", color=MUTED)
        header = f"{document.get('number', '')}  {_label('version', lang)} {document.get('version', '')}"
        page.text(MARGIN, PAGE_HEIGHT - 30, header, 7.5, color=MUTED)
        if status_text:
            # on every page, so a single printed page cannot pass for a text in force
            page.text(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 30, status_text, 8.5, align="right", color=ALERT)
        canvas.restoreState()

    return paint


def render(document: dict, *, status: str, signatures: list[dict], document_sha256: str,
           lang: str = "zh") -> bytes:
    """The agreement version as PDF bytes; the same values always give the same bytes.

    `document` is `agreement_document.build()`'s output, `status` the version's status,
    `signatures` dicts with organization_id, organization, credit_code, signer, signed_at (a
    string, printed as given), ip_address and document_sha256; `lang` is "zh" or "en"."""
    if lang not in ("zh", "en"):
        raise ValueError(f"unsupported language {lang!r}")
    _register_fonts()
    styles = _Styles(lang)
    status_text = _status_text(status, lang)
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=48, bottomMargin=56,
        invariant=1, pageCompression=1, initialFontName=FONT, lang="zh-CN" if lang == "zh" else "en",
        title=f"{document['number']} v{document['version']} {_pick(TITLE, lang)}",
        author="OutletPool", subject=(document.get("outlet") or {}).get("name") or "",
        creator="OutletPool")
    story = [
        *_heading_and_details(document, lang, styles, status_text),
        *_outlet(document, lang, styles),
        *_parties(document, lang, styles),
        *_allocations(document, lang, styles),
        *_cost_pools(document, lang, styles),
        *_responsibilities(document, lang, styles),
        *_signatures(document, signatures, document_sha256, lang, styles),
    ]
    footer = _footer_painter(document, document_sha256, status_text, lang)
    template.build(story, canvasmaker=_numbered_canvas(footer))
    return buffer.getvalue()

