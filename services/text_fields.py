"""Validation of free-text form fields, shared by the services that take them."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from services.errors import ValidationFailed


def clean_text(value, name: str, errors: dict, *, limit: int, required: bool = True,
               message=None) -> str | None:
    """`value` stripped, or None with a message under `errors[name]` when it is missing (and
    required) or longer than `limit`; None without a message when it is optional and empty."""
    text = "" if value is None else str(value).strip()
    if not text:
        if required:
            errors[name] = [message or _l("is required")]
        return None
    if len(text) > limit:
        errors[name] = [_l("at most %(n)s characters", n=limit)]
        return None
    return text


def clean_reason(reason, *, required: bool = True, limit: int = 2000) -> str | None:
    """The reason given for a decline, cancellation, termination, write-off, credit or
    certificate decision: stripped, at most `limit` characters (None when empty and optional)."""
    errors: dict = {}
    text = clean_text(reason, "reason", errors, limit=limit, required=required)
    if errors:
        given = bool(str(reason or "").strip())
        raise ValidationFailed(_l("The reason is too long.") if given else _l("Give a reason."), errors)
    return text
