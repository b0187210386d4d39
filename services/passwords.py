"""Password hashing with Argon2id (argon2-cffi), tunable so tests stay fast."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l

from services.errors import ValidationFailed

_hasher = PasswordHasher()


def configure(*, time_cost: int, memory_cost: int) -> None:
    global _hasher
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def require_reentered(user, password: str | None, message) -> None:
    """A signature-grade step (signing an agreement, confirming a joint filing): the user
    re-enters their password; `message` says what it was for."""
    if not password or not verify(user.password_hash, str(password)):
        raise ValidationFailed(message, {"password": [_l("is not correct")]})


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


# Verified against when the e-mail is unknown, so a miss costs as long as a hit.
_DUMMY_HASH: str | None = None


def burn_time(password: str) -> None:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash("not-a-real-password")
    verify(_DUMMY_HASH, password)


def problems(password: str, *, min_length: int, email: str | None = None) -> list[str]:
    """Why a new password is unacceptable (empty when it is fine)."""
    found = []
    if len(password) < min_length:
        found.append(_l("must be at least %(n)s characters", n=min_length))
    if email and password.strip().lower() == email.strip().lower():
        found.append(_l("must not be your e-mail address"))
    if password and len(set(password)) < 4:
        found.append(_l("is too simple: use more different characters"))
    return found
