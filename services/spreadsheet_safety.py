"""Hostile spreadsheets and uploads, handled in one place.

- Exports: a text cell that starts like a formula (=, +, -, @, tab, CR) gets a leading single
  quote (the OWASP rule against CSV/formula injection), so Excel or WPS shows the text instead
  of running it. Numbers stay numbers.
- Imports: text is UTF-8 (with or without a byte-order mark) or GBK/GB18030, the encodings
  Chinese spreadsheet programs save; anything else (UTF-16, a binary file renamed .csv) gets a
  clear error instead of garbled rows. An XLSX is a ZIP: its declared sizes are checked before
  openpyxl opens it, so a decompression bomb is refused instead of expanding in memory.
- Names: an uploaded file's name is only ever shown back, never used as a path; it is reduced
  to a plain base name without path parts, NUL or control characters.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable

from flask_babel import lazy_gettext as _l

from services.errors import ValidationFailed

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# A real workbook of MAX_ROWS outlets unpacks to a few tens of MB; a bomb to gigabytes.
XLSX_MAX_UNPACKED_BYTES = 100 * 1024 * 1024
XLSX_MAX_MEMBERS = 2_000
XLSX_MAX_RATIO = 200  # per member above 1 MB; spreadsheet XML compresses 5-30x
_RATIO_FLOOR_BYTES = 1024 * 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnreadableUpload(ValidationFailed):
    """The upload is not a file we can read (encoding, type or size); `fields["file"]` says why."""

    def __init__(self, reason):
        super().__init__(_l("The file could not be read: %(reason)s", reason=reason),
                         {"file": [str(reason)]})
        self.reason = str(reason)


def safe_cell(value):
    """The value to write into an exported cell: formula-like text is quoted, the rest as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable) -> list:
    return [safe_cell(v) for v in values]


def decode_upload(content: bytes) -> str:
    """CSV text from an upload: UTF-8 (BOM or not), else GBK/GB18030, else a clear error."""
    if b"\x00" in content[:8192]:
        raise UnreadableUpload(_l("it is not a text (CSV) file; UTF-16 and binary files are not "
                                  "accepted, save it as CSV (UTF-8 or GBK)"))
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableUpload(_l("it is neither UTF-8 nor GBK text; save it as CSV (UTF-8 or GBK)"))


def check_xlsx(content: bytes) -> None:
    """Refuse what is not a ZIP, or would unpack too large, before anything decompresses it."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableUpload(_l("it is not a valid .xlsx workbook")) from exc
    if len(members) > XLSX_MAX_MEMBERS:
        raise UnreadableUpload(_l("the workbook has too many parts"))
    unpacked = 0
    for member in members:
        unpacked += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_FLOOR_BYTES and ratio > XLSX_MAX_RATIO:
            raise UnreadableUpload(_l("the workbook is compressed suspiciously well "
                                      "(a decompression bomb?)"))
    if unpacked > XLSX_MAX_UNPACKED_BYTES:
        raise UnreadableUpload(_l("the workbook would unpack to more than %(mb)s MB",
                                  mb=XLSX_MAX_UNPACKED_BYTES // 2**20))


def safe_filename(name: str | None, default: str = "upload") -> str:
    """A display name for an uploaded file: its last path part (either slash), without NUL or
    control characters or leading dots, at most 255 characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    base = _CONTROL.sub("", base).strip().lstrip(".").strip()
    return base[:255] or default
