"""committed(): a view's business action and its commit are one transaction; a refusal the view
shows itself leaves nothing behind, and anything else reaches the app's error handlers."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import DataVersion
from app.transactions import committed
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


def _token() -> int:
    return db.session.scalar(select(DataVersion.token).where(DataVersion.scope == "pool"))


def _change_then(outcome):
    """An action that writes, flushes and then succeeds (outcome None) or raises `outcome`."""
    def action():
        db.session.execute(update(DataVersion).where(DataVersion.scope == "pool").values(token=7))
        if outcome is not None:
            raise outcome
        return "done"
    return action


def test_a_successful_action_is_committed_and_returns_its_result(app):
    with app.app_context():
        assert committed(_change_then(None)) == ("done", None)
        db.session.remove()  # a fresh session reads what was committed, not what it wrote
        assert _token() == 7


@pytest.mark.parametrize("refusal", [ValidationFailed("bad"), Conflict("taken")])
def test_a_refused_action_is_rolled_back_and_handed_back(app, refusal):
    with app.app_context():
        before = _token()
        assert committed(_change_then(refusal)) == (None, refusal)
        assert _token() == before


def test_refusals_caught_are_the_ones_the_caller_names(app):
    with app.app_context():
        before = _token()
        denied = PermissionDenied("not yours")
        caught = committed(_change_then(denied), catching=(ValidationFailed, PermissionDenied))
        assert caught == (None, denied)
        assert _token() == before


def test_any_other_error_propagates_for_the_error_handlers(app):
    with app.app_context():
        with pytest.raises(NotFound):
            committed(_change_then(NotFound("outlet", 1)))
        db.session.rollback()
