"""The certificate as a PDF: plain values in, bytes out (reportlab, one A4 page).

The document is bilingual by design (Chinese first, English beneath), whoever downloads it:
a paper certificate is shown to third parties whose language nobody knows in advance. Its
labels are therefore fixed text here, not translated per reader.

Chinese renders with an embedded TrueType subset of WenQuanYi Micro Hei (GB 2312 and more;
see services/data/fonts/README.md). A character outside the subset is drawn with reportlab's
built-in STSong-Light CID font, which PDF readers supply, rather than as an empty box. The
QR code (segno) is drawn as vector squares and links to the public verification page.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import segno
from reportlab.lib.colors import Color, black, white
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

FONT_FILE = Path(__file__).resolve().parent / "data" / "fonts" / "wqy-microhei-gb2312.ttf"
FONT = "OutletPoolCJK"
FALLBACK_FONT = "STSong-Light"

SCOPES = {
    "collection": ("收集型回收服务网点", "Collection-type recycling service outlet"),
    "centralized_storage": ("集中贮存型回收服务网点",
                            "Centralized-storage recycling service outlet"),
}
STATUS_BANNERS = {
    "suspended": ("本证书已暂停，目前无效", "SUSPENDED: this certificate is not valid at present"),
    "withdrawn": ("本证书已撤销，不再有效", "WITHDRAWN: this certificate is no longer valid"),
    "expired": ("本证书已过期，不再有效", "EXPIRED: this certificate is no longer valid"),
}

INK = Color(0.11, 0.20, 0.33)
MUTED = Color(0.35, 0.38, 0.42)
ALERT = Color(0.70, 0.11, 0.11)
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 64
QR_X, QR_Y, QR_SIZE = MARGIN + 10, 96, 112  # bottom left of the code, its side, in points


@dataclass(frozen=True)
class CertificateDocument:
    number: str
    verification_code: str
    verify_url: str
    status: str  # valid | suspended | withdrawn | expired
    outlet_name: str
    outlet_address: str
    outlet_type: str  # collection | centralized_storage
    provider_name: str
    provider_name_en: str | None
    scheme_name_zh: str
    scheme_name_en: str
    scheme_code: str
    scheme_version: str
    issuing_body: str
    certifier_name: str
    certifier_name_en: str | None
    issued_on: date
    expires_on: date
    next_surveillance_due: date | None = None
    city_name: str | None = None


@cache
def _register_fonts() -> frozenset[int]:
    """Register the fonts once per process; return the code points the embedded font covers."""
    font = TTFont(FONT, str(FONT_FILE))
    pdfmetrics.registerFont(font)
    pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return frozenset(font.face.charToGlyph)


def _runs(text: str) -> Iterator[tuple[str, str]]:
    """Split text into (font, segment) runs: the embedded font where it has the glyph."""
    covered = _register_fonts()
    current, segment = None, []
    for char in text:
        font = FONT if ord(char) in covered or char.isspace() else FALLBACK_FONT
        if font != current and segment:
            yield current, "".join(segment)
            segment = []
        current = font
        segment.append(char)
    if segment:
        yield current, "".join(segment)


def text_width(text: str, size: float) -> float:
    return sum(pdfmetrics.stringWidth(seg, font, size) for font, seg in _runs(text))


def wrap(text: str, size: float, width: float) -> list[str]:
    """Break at spaces where Latin text allows, anywhere between CJK characters."""
    lines: list[str] = []
    line = ""
    for token in _tokens(text, size, width):
        candidate = line + token
        if line and text_width(candidate.rstrip(), size) > width:
            lines.append(line.rstrip())
            line = token.lstrip()
        else:
            line = candidate
    if line.strip():
        lines.append(line.rstrip())
    return lines or [""]


def _tokens(text: str, size: float, width: float) -> Iterator[str]:
    """Latin words, single CJK characters and spaces; a word too long for a line (a URL)
    comes in single characters so it can break anywhere."""
    word = ""

    def flush() -> Iterator[str]:
        if text_width(word, size) > width:
            yield from word
        elif word:
            yield word

    for char in text:
        if ord(char) < 0x2E80 and not char.isspace():
            word += char
            continue
        yield from flush()
        word = ""
        yield char
    yield from flush()


class _Page:
    def __init__(self, canvas: Canvas):
        self.canvas = canvas

    def text(self, x: float, y: float, text: str, size: float, *, align: str = "left",
             color: Color = black) -> None:
        if align == "center":
            x -= text_width(text, size) / 2
        elif align == "right":
            x -= text_width(text, size)
        self.canvas.setFillColor(color)
        for font, segment in _runs(text):
            self.canvas.setFont(font, size)
            self.canvas.drawString(x, y, segment)
            x += pdfmetrics.stringWidth(segment, font, size)

    def paragraph(self, x: float, y: float, text: str, size: float, width: float, *,
                  align: str = "left", color: Color = black, leading: float = 1.35) -> float:
        """Draw wrapped text from baseline y downwards; return the baseline below it."""
        for line in wrap(text, size, width):
            self.text(x, y, line, size, align=align, color=color)
            y -= size * leading
        return y

    def qr(self, x: float, y: float, size: float, data: str) -> None:
        code = segno.make(data, error="m", micro=False)
        matrix = code.matrix
        module = size / len(matrix)
        self.canvas.setFillColor(white)
        self.canvas.rect(x - 4 * module, y - 4 * module, size + 8 * module, size + 8 * module,
                         stroke=0, fill=1)
        self.canvas.setFillColor(black)
        for row_index, row in enumerate(matrix):
            top = y + size - (row_index + 1) * module
            column = 0
            while column < len(row):
                if row[column]:
                    start = column
                    while column < len(row) and row[column]:
                        column += 1
                    # a hair wider than the run so neighbouring squares leave no seam
                    self.canvas.rect(x + start * module, top, (column - start) * module + 0.05,
                                     module + 0.05, stroke=0, fill=1)
                else:
                    column += 1


def _iso(value: date | None) -> str:
    return value.isoformat() if value else "—"


def render(doc: CertificateDocument) -> bytes:
    """The certificate as PDF bytes; the same values always give the same bytes."""
    _register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
    canvas.setTitle(f"{doc.number} 回收服务网点认证证书 / Certificate")
    canvas.setAuthor(doc.certifier_name)
    canvas.setSubject(doc.outlet_name)
    canvas.setCreator("OutletPool")
    page = _Page(canvas)
    centre = PAGE_WIDTH / 2
    inner = PAGE_WIDTH - 2 * MARGIN

    canvas.setStrokeColor(INK)
    canvas.setLineWidth(2.5)
    canvas.rect(28, 28, PAGE_WIDTH - 56, PAGE_HEIGHT - 56)
    canvas.setLineWidth(0.8)
    canvas.rect(36, 36, PAGE_WIDTH - 72, PAGE_HEIGHT - 72)

    y = PAGE_HEIGHT - 100
    page.text(centre, y, "回收服务网点认证证书", 28, align="center", color=INK)
    y -= 26
    page.text(centre, y, "Certificate of Certification: Recycling Service Outlet", 13,
              align="center", color=INK)
    y -= 28
    page.text(centre, y, f"证书编号 Certificate No.  {doc.number}", 12, align="center")

    banner = STATUS_BANNERS.get(doc.status)
    if banner:
        y -= 34
        canvas.setFillColor(ALERT)
        canvas.rect(MARGIN, y - 10, inner, 40, stroke=0, fill=1)
        page.text(centre, y + 14, banner[0], 13, align="center", color=white)
        page.text(centre, y - 2, banner[1], 10, align="center", color=white)
        y -= 14

    y -= 44
    page.text(centre, y, "兹证明  This is to certify that", 11, align="center", color=MUTED)
    y -= 30
    y = page.paragraph(centre, y, doc.outlet_name, 20, inner, align="center", color=INK)
    address = doc.outlet_address if not doc.city_name or doc.city_name in doc.outlet_address \
        else f"{doc.city_name} {doc.outlet_address}"
    y = page.paragraph(centre, y + 4, address, 10.5, inner, align="center", color=MUTED)
    provider = doc.provider_name + (f" ({doc.provider_name_en})" if doc.provider_name_en else "")
    y = page.paragraph(centre, y - 2, f"运营单位 Operated by: {provider}", 10.5, inner,
                       align="center")

    y -= 14
    page.text(centre, y, "符合以下认证方案的要求  conforms to the requirements of", 11,
              align="center", color=MUTED)
    y -= 22
    y = page.paragraph(centre, y, f"{doc.scheme_name_zh}（{doc.scheme_code} {doc.scheme_version}）",
                       14, inner, align="center", color=INK)
    y = page.paragraph(centre, y + 2, doc.scheme_name_en, 11, inner, align="center", color=INK)
    y = page.paragraph(centre, y, f"方案发布机构 Scheme owner: {doc.issuing_body}", 9.5, inner,
                       align="center", color=MUTED)

    scope_zh, scope_en = SCOPES.get(doc.outlet_type, (doc.outlet_type, doc.outlet_type))
    certifier = doc.certifier_name + (f"\n{doc.certifier_name_en}" if doc.certifier_name_en else "")
    rows = [
        ("认证范围", "Scope", f"{scope_zh}\n{scope_en}"),
        ("发证日期", "Date of issue", _iso(doc.issued_on)),
        ("到期日期", "Date of expiry", _iso(doc.expires_on)),
        ("下次监督审核", "Next surveillance audit", _iso(doc.next_surveillance_due)),
        ("认证机构", "Certification body", certifier),
    ]
    y -= 22
    label_x, value_x, value_width = MARGIN + 12, MARGIN + 190, inner - 202
    canvas.setStrokeColor(Color(0.8, 0.82, 0.85))
    canvas.setLineWidth(0.5)
    for label_zh, label_en, value in rows:
        canvas.line(MARGIN + 6, y + 16, PAGE_WIDTH - MARGIN - 6, y + 16)
        page.text(label_x, y, label_zh, 11, color=INK)
        page.text(label_x, y - 13, label_en, 8.5, color=MUTED)
        value_y = y
        for part in value.split("\n"):
            value_y = page.paragraph(value_x, value_y, part, 11, value_width)
        y = min(y - 34, value_y - 8)
    canvas.line(MARGIN + 6, y + 16, PAGE_WIDTH - MARGIN - 6, y + 16)

    page.qr(QR_X, QR_Y, QR_SIZE, doc.verify_url)
    text_x = QR_X + QR_SIZE + 22
    text_width_available = PAGE_WIDTH - MARGIN - text_x
    ty = QR_Y + QR_SIZE - 8
    ty = page.paragraph(text_x, ty, "扫码或访问以下网址，核验本证书的真实性与当前状态：", 10,
                        text_width_available)
    ty = page.paragraph(text_x, ty, "Scan the code or visit the address below to check that "
                        "this certificate is genuine and still valid:", 8.5,
                        text_width_available, color=MUTED)
    ty = page.paragraph(text_x, ty - 2, doc.verify_url, 8, text_width_available, color=INK)
    page.text(text_x, ty - 4, f"验证码 Verification code: {doc.verification_code}", 8,
              color=INK)

    page.paragraph(centre, 56, "本证书的有效性以 OutletPool 平台核验结果为准。 The validity "
                   "of this certificate is as shown by verification on OutletPool.", 8,
                   inner, align="center", color=MUTED)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
