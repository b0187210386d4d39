"""A filing snapshot as files: XLSX, CSV and JSON (the PDF is services/filing_pdf.py).

Pure: a snapshot (services.filings.snapshot_for) and a layout (services/data/filing_layout*.json)
in, bytes out. Headers and column widths come from the layout, so a change in the official form
is a change of data. The filed rows are the table; the cover sheet carries what the checks found
(obligations not covered, outlets left out with the reason), so nothing disappears silently.
Provider-supplied text is written as text, never as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable

from services.spreadsheet_safety import safe_cell, safe_row

FORMATS = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
}


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def canonical(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def table(rows: Iterable[dict], layout: dict) -> Iterable[list]:
    """Each row's cells in the layout's column order."""
    keys = [c["key"] for c in layout["columns"]]
    for row in rows:
        values = row["values"]
        yield [safe_cell(values.get(k)) for k in keys]


def headers(layout: dict) -> list[str]:
    return [c["header"] for c in layout["columns"]]


def to_csv(rows: list[dict], layout: dict) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(headers(layout))
    writer.writerows(table(rows, layout))  # csv writes None as ""
    return buffer.getvalue().encode("utf-8-sig")


def to_json(snapshot: dict) -> bytes:
    return json.dumps(snapshot, ensure_ascii=False, indent=1, sort_keys=True,
                      default=str).encode("utf-8")


def _styles():
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="808080")
    return {
        "title": Font(bold=True, size=14),
        "header_font": Font(bold=True),
        "header_fill": PatternFill("solid", fgColor="D9E1F2"),
        "border": Border(left=thin, right=thin, top=thin, bottom=thin),
        "wrap": Alignment(wrap_text=True, vertical="center", horizontal="center"),
        "top": Alignment(vertical="top", wrap_text=False),
        "alert": Font(color="B00000"),
    }


def _sheet_table(workbook, name: str, title: str, subtitle: str, columns: list[dict],
                 rows: Iterable[list], styles: dict, *, alert_column: int | None = None):
    """A sheet laid out like an official table: title, subtitle, bordered header row (frozen),
    the layout's column widths."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    sheet = workbook.create_sheet(name)
    for index, column in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = column.get("width", 14)
    sheet.freeze_panes = "A4"
    cell = WriteOnlyCell(sheet, value=title)
    cell.font = styles["title"]
    sheet.append([cell])
    sheet.append([subtitle])
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column["header"])
        cell.font, cell.fill = styles["header_font"], styles["header_fill"]
        cell.border, cell.alignment = styles["border"], styles["wrap"]
        header.append(cell)
    sheet.append(header)
    border = styles["border"]
    for cells in rows:
        out = []
        for index, value in enumerate(cells):
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            cell.border = border
            if alert_column is not None and index == alert_column and value:
                cell.font = styles["alert"]
            out.append(cell)
        sheet.append(out)
    return sheet


def cover_lines(snapshot: dict, layout: dict) -> list[list]:
    """The cover sheet's content as rows of cells (also the PDF cover's source)."""
    cover = layout["cover"]
    maker = snapshot["maker"]
    lines: list[list] = [
        ["申报单位", maker["legal_name"]],
        ["统一社会信用代码", maker["credit_code"]],
        ["数据截至", snapshot["as_of"]],
        ["生成时间", snapshot.get("generated_at", "")],
        ["适用规则", f'{snapshot["rule_set"]["code"]} {snapshot["rule_set"]["version"]}'],
        ["表式", f'{layout["code"]} {layout["version"]}'],
        ["申报网点数", len(snapshot["rows"])],
        ["未纳入申报的网点数", len(snapshot["flagged"])],
        ["联合申报未确认的网点数", snapshot["counts"]["unconfirmed"]],
        ["尚未覆盖的义务城市数", len(snapshot["uncovered"])],
        [],
        [cover["uncovered_heading"]],
    ]
    type_labels = layout["labels"]["outlet_type"]
    if not snapshot["uncovered"]:
        lines.append([cover["none"]])
    for item in snapshot["uncovered"]:
        lines.append([f'{item["province_name"]} {item["city_name"]}（{item["city"]}）',
                      "缺少：" + "、".join(type_labels.get(t, t) for t in item["missing"])])
    lines += [[], [cover["flagged_heading"]]]
    if not snapshot["flagged"]:
        lines.append([cover["none"]])
    for item in snapshot["flagged"]:
        values = item["values"]
        lines.append([f'{values["outlet_name"]}（{values["city"]}）', item["reason_text"]])
    return lines


def to_xlsx(snapshot: dict, layout: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    styles = _styles()
    workbook = Workbook(write_only=True)
    cover = workbook.create_sheet(layout["cover_sheet"])
    cover.column_dimensions["A"].width = 34
    cover.column_dimensions["B"].width = 70
    title = WriteOnlyCell(cover, value=layout["title"])
    title.font = styles["title"]
    cover.append([title])
    cover.append([layout["cover"]["addressee"]])
    cover.append([layout["cover"]["letter"] % {"rows": len(snapshot["rows"]),
                                               "as_of": snapshot["as_of"]}])
    cover.append([])
    for line in cover_lines(snapshot, layout):
        cover.append(safe_row(line))  # names are the makers' and providers' own text
    subtitle = (f'申报单位：{snapshot["maker"]["legal_name"]}（{snapshot["maker"]["credit_code"]}）'
                f'　数据截至：{snapshot["as_of"]}')
    keys = [c["key"] for c in layout["columns"]]
    _sheet_table(workbook, layout["sheet"], layout["title"], subtitle, layout["columns"],
                 table(snapshot["rows"], layout), styles,
                 alert_column=keys.index("joint_confirmation") if "joint_confirmation" in keys else None)
    flagged_columns = [{"key": "reason", "header": "未纳入原因", "width": 36},
                       *[c for c in layout["columns"] if c["key"] != "row_number"]]
    _sheet_table(workbook, layout["flagged_sheet"], layout["flagged_sheet"], subtitle, flagged_columns,
                 ([item["reason_text"], *[safe_cell(item["values"].get(c["key"]))
                                          for c in flagged_columns[1:]]]
                  for item in snapshot["flagged"]), styles, alert_column=0)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def public_list_xlsx(rows: list[dict], layout: dict, subtitle: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    _sheet_table(workbook, layout["sheet"], layout["title"], subtitle, layout["columns"],
                 table(rows, layout), _styles())
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
