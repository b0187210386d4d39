"""The public registry as a file: search results as CSV (UTF-8 with BOM) or XLSX.

Rendering is pure: it takes the rows `pool_search.export_rows` returns and gives bytes. Money
leaves as yuan (2 decimals) here, the edge; the database keeps fen.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from services import money
from services.spreadsheet_safety import safe_row

EXPORT_LIMIT = 20_000
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@dataclass(frozen=True)
class Column:
    key: str
    header: object  # str or lazy string
    value: Callable[[dict], object]


def type_labels() -> dict[str, object]:
    return {"collection": _l("Collection outlet"),
            "centralized_storage": _l("Centralized storage outlet")}


def columns(*, with_distance: bool) -> list[Column]:
    labels = type_labels()

    def type_label(row: dict) -> str:
        value = getattr(row["type"], "value", row["type"])
        return str(labels.get(value, value))

    cols = [
        Column("id", _l("ID"), lambda r: r["id"]),
        Column("name", _l("Outlet"), lambda r: r["name"]),
        Column("type", _l("Type"), type_label),
        Column("provider", _l("Provider"), lambda r: r["provider_name"]),
        Column("province", _l("Province"), lambda r: r["province_name"]),
        Column("city", _l("City"), lambda r: r["city_name"]),
        Column("district", _l("District"), lambda r: r["district_name"]),
        Column("division_code", _l("Division code"), lambda r: r["district"] or r["city"]),
        Column("address", _l("Address"), lambda r: r["address"]),
        Column("certified", _l("Certified"), lambda r: str(_l("yes") if r["certified"] else _l("no"))),
        Column("available_capacity_t", _l("Available capacity (t/year)"),
               lambda r: r["available_capacity_t"]),
        Column("annual_fee_yuan", _l("Annual fee (CNY)"), lambda r: money.yuan(r["annual_fee_fen"])),
        Column("handling_fee_yuan_per_t", _l("Handling fee (CNY/t)"),
               lambda r: money.yuan(r["handling_fee_fen_per_t"])),
        Column("lat", _l("Latitude"), lambda r: r["lat"]),
        Column("lon", _l("Longitude"), lambda r: r["lon"]),
    ]
    if with_distance:
        cols.append(Column("distance_km", _l("Distance (km)"), lambda r: r.get("distance_km")))
    return cols


def _cells(rows: Iterable[dict], cols: list[Column]) -> Iterable[list]:
    for row in rows:
        yield safe_row(col.value(row) for col in cols)


def to_csv(rows: Iterable[dict], cols: list[Column]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese text correctly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([str(c.header) for c in cols])
    for cells in _cells(rows, cols):
        writer.writerow(["" if v is None else v for v in cells])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Iterable[dict], cols: list[Column], *, about: list[tuple[str, str]] = ()) -> bytes:
    """One sheet of results (header row frozen) and an "About" sheet describing the export."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(_l("Outlets")))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for col in cols:
        cell = WriteOnlyCell(sheet, value=str(col.header))
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for cells in _cells(rows, cols):
        out = []
        for value in cells:
            if isinstance(value, Decimal):
                value = float(value)
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # openpyxl would take a leading "=" for a formula
            out.append(cell)
        sheet.append(out)
    info = workbook.create_sheet(str(_l("About")))
    for key, value in about:
        info.append([str(key), str(value)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def filename(fmt: str, now: datetime) -> str:
    return f"outletpool-registry-{now:%Y%m%d-%H%M}.{fmt}"


def render(fmt: str, rows: list[dict], *, with_distance: bool,
           about: list[tuple[str, str]] = ()) -> bytes:
    cols = columns(with_distance=with_distance)
    if fmt == "xlsx":
        return to_xlsx(rows, cols, about=about)
    return to_csv(rows, cols)
