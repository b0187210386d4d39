"""Which page of a list a request asks for (`?page=N`); the first for anything else."""

from __future__ import annotations

from flask import request


def requested_page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)
