"""Handling records API: the provider records the tonnes it handled under an allocation,
corrects or withdraws them; the maker disputes one within the window. Every lookup is scoped
by the caller's organizations in the query: another organization's record is 404."""

from __future__ import annotations

import marshmallow as ma

from app.api.common import BEARER, Blueprint, actor, authenticated
from app.api.idempotency import idempotent
from app.extensions import db
from app.models import HandlingStatus
from services import handling

blp = Blueprint("api_handling", __name__, url_prefix="/api/v1",
                description="Handled tonnes under an allocation, disputes and corrections")
Str, Int, Date, When = ma.fields.String, ma.fields.Integer, ma.fields.Date, ma.fields.AwareDateTime
TEXT = ma.validate.Length(max=handling.TEXT_LIMIT)
TONNES = ("Tonnes handled, more than 0 with at most three decimals (a JSON number or a string "
          "such as \"12.345\"); stored exactly as kilograms")


class HandlingRecordInSchema(ma.Schema):
    handled_on = Date(required=True, metadata={
        "description": "The day handled (China time): within the allocation's signed term, not in "
                       "the future"})
    tonnes = ma.fields.Decimal(required=True, metadata={"description": TONNES})
    battery_codes = Str(allow_none=True, validate=ma.validate.Length(max=handling.CODES_LIMIT),
                        metadata={"description": "Battery (pack) codes, one a line"})
    notes = Str(allow_none=True, validate=TEXT)


class HandlingCorrectionInSchema(ma.Schema):
    """Fields left out keep the corrected record's values."""

    handled_on = Date(metadata={"description": "The day handled"})
    tonnes = ma.fields.Decimal(metadata={"description": TONNES})
    battery_codes = Str(allow_none=True, validate=ma.validate.Length(max=handling.CODES_LIMIT))
    notes = Str(allow_none=True, validate=TEXT)


class DisputeInSchema(ma.Schema):
    reason = Str(required=True, validate=TEXT)


class WithdrawalInSchema(ma.Schema):
    reason = Str(allow_none=True, validate=TEXT)


class HandlingRecordSchema(ma.Schema):
    id = Int()
    allocation_id = Int()
    agreement_id = Int()
    provider_id = Int()
    manufacturer_id = Int()
    handled_on = Date()
    tonnes = Str(metadata={"description": "Exact, e.g. \"12.345\""})
    kilograms = Int()
    fee_fen_per_t = Int(metadata={"description": "The allocation's price per tonne when recorded"})
    battery_codes = Str(allow_none=True)
    notes = Str(allow_none=True)
    status = Str(metadata={"enum": [s.value for s in HandlingStatus]})
    state = Str(metadata={"enum": ["open_to_dispute", "to_invoice", "disputed", "superseded",
                                   "withdrawn", "invoiced"],
                          "description": "recorded splits into open_to_dispute / to_invoice"})
    recorded_by_id = Int(allow_none=True)
    recorded_by = Str(allow_none=True, metadata={"description": "Name of the user who recorded it"})
    recorded_at = When()
    dispute_by = When(metadata={"description": "The maker may dispute until then"})
    dispute_reason = Str(allow_none=True)
    disputed_at = When(allow_none=True)
    supersedes_id = Int(allow_none=True, metadata={"description": "The record this one corrects"})
    closed_at = When(allow_none=True, metadata={"description": "When withdrawn or corrected"})
    invoice_id = Int(allow_none=True, metadata={"description": "The invoice that charged it"})


class HandlingRecordListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(HandlingRecordSchema))
    total = Int()
    fee_fen_per_t = Int(metadata={"description": "The allocation's handling fee per tonne now"})
    dispute_days = Int()


def present(record) -> dict:
    columns = ("id", "allocation_id", "agreement_id", "provider_id", "manufacturer_id", "handled_on",
               "kilograms", "fee_fen_per_t", "battery_codes", "notes", "recorded_by_id", "recorded_at",
               "dispute_by", "dispute_reason", "disputed_at", "supersedes_id", "closed_at", "invoice_id")
    return {**{k: getattr(record, k) for k in columns}, "status": record.status.value,
            "state": handling.state_of(record), "tonnes": handling.tonnes_text(record.kilograms),
            "recorded_by": record.recorded_by.name if record.recorded_by else None}


@blp.route("/allocations/<int:allocation_id>/handling-records", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, HandlingRecordListSchema)
@blp.alt_response(404, description="No such allocation, or not one your organization is party to")
def list_records(allocation_id):
    """Both parties (and operators): every record under the allocation, newest day first,
    corrected and withdrawn ones included."""
    allocation = handling.get_allocation(actor(), allocation_id)
    records = handling.list_for_allocation(actor(), allocation_id)
    return {"items": [present(r) for r in records], "total": len(records),
            "fee_fen_per_t": allocation.handling_fee_fen_per_t, "dispute_days": handling.dispute_days()}


@blp.route("/allocations/<int:allocation_id>/handling-records", methods=["POST"])
@authenticated
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(HandlingRecordInSchema)
@blp.response(201, HandlingRecordSchema)
@blp.alt_response(409, description="The allocation was never signed (`fields.allocation_id`)")
@blp.alt_response(422, description="A field is wrong; `error.fields` names each")
def create_record(body, allocation_id):
    """Providers: record tonnes handled for the maker on a day. The maker is told and may
    dispute it for HANDLING_DISPUTE_DAYS; after that it is invoiced at the allocation's price."""
    return present(handling.record(actor(), allocation_id, body))


@blp.route("/handling-records/<int:record_id>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, HandlingRecordSchema)
def get_record(record_id):
    return present(handling.get_visible(actor(), record_id))


@blp.route("/handling-records/<int:record_id>/dispute", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(DisputeInSchema)
@blp.response(200, HandlingRecordSchema)
@blp.alt_response(409, description="Already invoiced, corrected, withdrawn or disputed, or the "
                                   "dispute window closed")
def dispute(body, record_id):
    """Manufacturers' managers: object to a record, with a reason, within its window. It is not
    invoiced until the provider corrects or withdraws it."""
    found = handling.dispute(actor(), record_id, body["reason"])
    db.session.commit()
    return present(found)


@blp.route("/handling-records/<int:record_id>/withdrawal", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(WithdrawalInSchema)
@blp.response(200, HandlingRecordSchema)
@blp.alt_response(409, description="Already invoiced, corrected or withdrawn")
def withdraw(body, record_id):
    """Providers: take back a record not yet invoiced (disputed or not); it is never charged."""
    found = handling.withdraw(actor(), record_id, body.get("reason"))
    db.session.commit()
    return present(found)


@blp.route("/handling-records/<int:record_id>/correction", methods=["POST"])
@authenticated
@idempotent
@blp.doc(security=BEARER)
@blp.arguments(HandlingCorrectionInSchema)
@blp.response(201, HandlingRecordSchema)
@blp.alt_response(409, description="Already invoiced, corrected or withdrawn")
def correct(body, record_id):
    """Providers: replace a record not yet invoiced by a corrected one (the answer), which has
    a dispute window of its own; the old one is kept as superseded."""
    return present(handling.correct(actor(), record_id, body))
