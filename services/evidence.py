"""Evidence files (photos, PDFs) for outlets and checklist items.

Checked by content, not by name: only JPEG, PNG, WebP and PDF, up to a configurable size.
Stored outside the web root under a generated name and served only to the outlet's provider
and to operators. Photos keep their capture time and place when their EXIF carries them.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from sqlalchemy import select

from app.extensions import db
from app.models import Evidence, Outlet
from services import audit, checklist, permissions
from services.audit import Actor
from services.errors import NotFound, ValidationFailed
from services.spreadsheet_safety import safe_filename

# signature -> (content type, extension)
SIGNATURES = [
    (b"\xff\xd8\xff", ("image/jpeg", ".jpg")),
    (b"\x89PNG\r\n\x1a\n", ("image/png", ".png")),
    (b"%PDF-", ("application/pdf", ".pdf")),
]
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 36867, 36881
# EXIF times carry no zone unless OffsetTimeOriginal is set; outlets are in China.
CHINA = timezone(timedelta(hours=8))


def sniff(data: bytes) -> tuple[str, str] | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    for signature, kind in SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


@dataclass(frozen=True)
class PhotoMetadata:
    captured_at: datetime | None = None
    lat: float | None = None
    lon: float | None = None


def _degrees(value, ref) -> float | None:
    try:
        d, m, s = (float(x) for x in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    result = d + m / 60 + s / 3600
    return -result if ref in ("S", "W") else result


def photo_metadata(data: bytes) -> PhotoMetadata:
    """Capture time (UTC) and GPS position from a photo's EXIF, when present."""
    try:
        exif = Image.open(io.BytesIO(data)).getexif()
    except (UnidentifiedImageError, OSError, ValueError):
        return PhotoMetadata()
    captured_at = None
    sub = exif.get_ifd(EXIF_IFD)
    raw = sub.get(DATETIME_ORIGINAL) or exif.get(306)  # 306: DateTime
    if raw:
        try:
            local = datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")
            offset = sub.get(OFFSET_TIME_ORIGINAL)
            zone = (datetime.strptime(offset, "%z").tzinfo if offset else CHINA)
            captured_at = local.replace(tzinfo=zone).astimezone(UTC)
        except (TypeError, ValueError):
            captured_at = None
    gps = exif.get_ifd(GPS_IFD)
    lat = _degrees(gps.get(2), gps.get(1)) if gps.get(2) else None
    lon = _degrees(gps.get(4), gps.get(3)) if gps.get(4) else None
    return PhotoMetadata(captured_at, lat, lon)


def store(outlet_id: int, data: bytes, filename: str, *, storage_root: Path, max_bytes: int,
          uploaded_by_id: int | None, checklist_item: int | None = None) -> Evidence:
    """Check a file by content and size, keep it under a generated name, add its row.

    No permission check and no audit record: each caller (the provider's evidence, the
    certifier's audit evidence) checks who may upload and records the event itself.
    """
    errors = {}
    kind = sniff(data[:16])
    if not data:
        errors["file"] = [_l("is empty")]
    elif len(data) > max_bytes:
        errors["file"] = [_l("is larger than the limit of %(mb)s MB", mb=round(max_bytes / 2**20, 1))]
    elif kind is None:
        errors["file"] = [_l("must be a photo (JPEG, PNG, WebP) or a PDF")]
    if checklist_item is not None and checklist_item not in {
            i.number for i in checklist.items()}:
        errors["checklist_item"] = [_l("is not a checklist item number")]
    if errors:
        raise ValidationFailed(_l("The file was not accepted."), errors)
    content_type, extension = kind
    metadata = photo_metadata(data) if content_type.startswith("image/") else PhotoMetadata()
    stored_name = secrets.token_hex(16) + extension
    path = storage_root / stored_name[:2] / stored_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    evidence = Evidence(
        outlet_id=outlet_id, checklist_item=checklist_item, stored_name=stored_name,
        original_name=safe_filename(filename), content_type=content_type,
        size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
        captured_at=metadata.captured_at, captured_lat=metadata.lat, captured_lon=metadata.lon,
        uploaded_by_id=uploaded_by_id)
    db.session.add(evidence)
    db.session.flush()
    return evidence


def add(actor: Actor, outlet: Outlet, data: bytes, filename: str, *, storage_root: Path,
        max_bytes: int, checklist_item: int | None = None) -> Evidence:
    """The provider's evidence for its outlet or one checklist item."""
    permissions.require(actor.user, "outlets.manage", outlet.provider)
    evidence = store(outlet.id, data, filename, storage_root=storage_root, max_bytes=max_bytes,
                     uploaded_by_id=actor.user_id, checklist_item=checklist_item)
    audit.record(actor, "evidence.added", "evidence", evidence.id, organization_id=outlet.provider_id,
                 data={"outlet_id": outlet.id, "item": checklist_item, "sha256": evidence.sha256,
                       "type": evidence.content_type})
    return evidence


def of_outlet(outlet: Outlet) -> list[Evidence]:
    return list(db.session.execute(
        select(Evidence).where(Evidence.outlet_id == outlet.id)
        .order_by(Evidence.checklist_item.is_(None), Evidence.checklist_item, Evidence.id)).scalars())


def get_visible(actor: Actor, evidence_id: int) -> Evidence:
    """Evidence of the actor's own outlets, or any for operators; 404 otherwise."""
    query = select(Evidence).where(Evidence.id == evidence_id)
    if permissions.operator_membership(actor.user) is None:
        org_ids = [m.organization_id for m in getattr(actor.user, "memberships", [])]
        query = query.join(Outlet, Outlet.id == Evidence.outlet_id).where(
            Outlet.provider_id.in_(org_ids))
    evidence = db.session.execute(query).scalar_one_or_none()
    if evidence is None:
        raise NotFound("evidence", evidence_id)
    return evidence


def path_of(evidence: Evidence, storage_root: Path) -> Path:
    return storage_root / evidence.stored_name[:2] / evidence.stored_name
