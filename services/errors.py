"""Errors services raise; the delivery layer maps them to HTTP statuses and form messages."""

from __future__ import annotations


class ServiceError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationFailed(ServiceError):
    """Input that breaks a rule. `fields` maps a field path to its messages."""

    code = "validation_failed"
    status = 422


class NotFound(ServiceError):
    """Also raised for rows of another organization: their existence is not disclosed."""

    code = "not_found"
    status = 404

    def __init__(self, what: str, key: object = None):
        super().__init__(f"{what} not found" if key is None else f"{what} {key} not found")
        self.what = what
        self.key = key


class PermissionDenied(ServiceError):
    code = "forbidden"
    status = 403


class AuthenticationFailed(ServiceError):
    code = "unauthorized"
    status = 401


class Conflict(ServiceError):
    code = "conflict"
    status = 409
