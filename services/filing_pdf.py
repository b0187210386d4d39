"""A maker's outlet filing as PDF: a cover letter (with what the checks found) and the table.

Pure: snapshot and layout in, bytes out (reportlab, landscape A4, the embedded CJK font of the
certificate with its CID fallback). The table shows the layout's `pdf_columns` (the full set
does not fit a page's width; the XLSX and CSV carry every column). Headers repeat on every
page; every page's footer names the maker, the data date and "page x of y".
"""

from __future__ import annotations

import io

from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.agreement_pdf import ALERT, HEADER_FILL, INK, MUTED, RULE, _markup, _numbered_canvas
from services.certificate_pdf import FONT, _Page, _register_fonts

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
MARGIN = 28
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN


class _Styles:
    def __init__(self):
        base = ParagraphStyle("base", fontName=FONT, fontSize=10, leading=15, wordWrap="CJK")
        self.title = ParagraphStyle("title", base, fontSize=16, leading=24, alignment=1,
                                    textColor=INK, spaceAfter=10)
        self.body = base
        self.heading = ParagraphStyle("heading", base, fontSize=11.5, leading=16, textColor=INK,
                                      spaceBefore=10, spaceAfter=4)
        self.cell = ParagraphStyle("cell", base, fontSize=6.5, leading=8.2)
        self.header = ParagraphStyle("header", self.cell, textColor=INK)
        self.alert = ParagraphStyle("alert", self.cell, textColor=ALERT)


def _p(text, style) -> Paragraph:
    return Paragraph(_markup("" if text is None else text), style)


def _grid(rows, widths, *, header=True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0, hAlign="LEFT")
    style = [("GRID", (0, 0), (-1, -1), 0.3, RULE), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("LEFTPADDING", (0, 0), (-1, -1), 2), ("RIGHTPADDING", (0, 0), (-1, -1), 2),
             ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL))
    table.setStyle(TableStyle(style))
    return table


def _cover(snapshot: dict, layout: dict, styles: _Styles) -> list:
    from services.filing_documents import cover_lines

    cover = layout["cover"]
    story = [_p(layout["title"], styles.title), _p(cover["addressee"] + "：", styles.body),
             Spacer(1, 4),
             _p("　　" + cover["letter"] % {"rows": len(snapshot["rows"]), "as_of": snapshot["as_of"]},
                styles.body), Spacer(1, 8)]
    rows = []
    for line in cover_lines(snapshot, layout):
        if not line:
            continue
        if len(line) == 1:
            if rows:
                story.append(_grid(rows, [CONTENT_WIDTH * 0.35, CONTENT_WIDTH * 0.65], header=False))
                rows = []
            story.append(_p(line[0], styles.heading))
            continue
        rows.append([_p(line[0], styles.cell), _p(line[1], styles.cell)])
    if rows:
        story.append(_grid(rows, [CONTENT_WIDTH * 0.35, CONTENT_WIDTH * 0.65], header=False))
    story += [Spacer(1, 16), _p(f'申报单位（盖章）：{snapshot["maker"]["legal_name"]}', styles.body),
              _p(f'日期：{snapshot["as_of"]}', styles.body)]
    return story


def _table(snapshot: dict, layout: dict, styles: _Styles) -> list:
    by_key = {c["key"]: c for c in layout["columns"]}
    keys = [k for k in layout.get("pdf_columns", by_key) if k in by_key]
    wide = {k: by_key[k].get("pdf_width", by_key[k].get("width", 12)) for k in keys}
    total = sum(wide.values())
    widths = [CONTENT_WIDTH * wide[k] / total for k in keys]
    rows = [[_p(by_key[k]["header"], styles.header) for k in keys]]
    unconfirmed = layout["labels"]["joint_confirmation"]["unconfirmed"]
    for row in snapshot["rows"]:
        values = row["values"]
        rows.append([_p(values.get(k), styles.alert if values.get(k) == unconfirmed else styles.cell)
                     for k in keys])
    if len(rows) == 1:
        rows.append([_p(layout["cover"]["none"], styles.cell)] + [""] * (len(keys) - 1))
    return [_p(layout["title"], styles.heading), _grid(rows, widths)]


def render(snapshot: dict, layout: dict) -> bytes:
    _register_fonts()
    styles = _Styles()
    buffer = io.BytesIO()
    maker = snapshot["maker"]
    template = SimpleDocTemplate(
        buffer, pagesize=landscape(A4), leftMargin=MARGIN, rightMargin=MARGIN, topMargin=36,
        bottomMargin=40, invariant=1, pageCompression=1, initialFontName=FONT, lang="zh-CN",
        title=f'{layout["title"]} {maker["legal_name"]} {snapshot["as_of"]}', author="OutletPool",
        creator="OutletPool")

    def footer(canvas, number: int, total: int) -> None:
        page = _Page(canvas)
        canvas.saveState()
        page.text(MARGIN, 22, f'{maker["legal_name"]}（{maker["credit_code"]}） 数据截至 {snapshot["as_of"]}',
                  7, color=MUTED)
        page.text(PAGE_WIDTH - MARGIN, 22, f"第 {number} 页，共 {total} 页", 7, align="right",
                  color=MUTED)
        canvas.restoreState()

    story = [*_cover(snapshot, layout, styles), PageBreak(), *_table(snapshot, layout, styles)]
    template.build(story, canvasmaker=_numbered_canvas(footer))
    return buffer.getvalue()
