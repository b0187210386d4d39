"""One business action, one transaction: how the delivery layer (pages, API) commits.

Services flush and never commit; a view runs one action and commits once. The refusals a view
answers itself (a form's messages, a flash) are rolled back here, so a refused action leaves
nothing behind in the session the page is then rendered from."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from app.extensions import db
from services.errors import AuthenticationFailed, Conflict, PermissionDenied, ValidationFailed

T = TypeVar("T")
Caught = type[Exception] | tuple[type[Exception], ...]

# Every refusal a page can show on itself (a flash, a form's messages). NotFound is not one: a
# page of another organization's record answers 404 like all its other pages.
SHOWN_REFUSALS = (ValidationFailed, Conflict, PermissionDenied, AuthenticationFailed)


def committed(action: Callable[[], T],
              catching: Caught = (ValidationFailed, Conflict)) -> tuple[T | None, Exception | None]:
    """Run `action()` and commit: (result, None). On one of `catching` roll back and return
    (None, the error) for the caller to show.

    Any other exception propagates untouched: the app's error handlers roll back and answer
    403/404/409/503 as on every page, and the 503 one must pick its (translated) message before
    a rollback expires the signed-in user whose locale it reads."""
    try:
        result = action()
        db.session.commit()
    except catching as error:
        db.session.rollback()
        return None, error
    return result, None
