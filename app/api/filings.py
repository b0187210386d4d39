"""Filings API: makers' outlet filings in versions (generate, list, download each format,
mark submitted, the change filing), joint filings and their confirmation, the operator's run
over every maker with its archive, and the public disclosure list."""

from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app, request
from flask_babel import lazy_gettext as _l

from app.api.common import BEARER, Blueprint, actor, authenticated, file_answer, json_answer
from app.extensions import db
from services import filing_runs, filings, joint_filings, permissions
from services.errors import ValidationFailed

blp = Blueprint("api_filings", __name__, url_prefix="/api/v1",
                description="Outlet filings, joint filings, change filings and the public list")
Int, Str = ma.fields.Integer, ma.fields.String


class GenerateSchema(ma.Schema):
    as_of = ma.fields.Date(load_default=None, metadata={"description": "Data date (default today)"})
    manufacturer_id = Int(load_default=None, metadata={
        "description": "Operators only: the maker to generate for"})


class FileSchema(ma.Schema):
    format = Str()
    filename = Str()
    content_type = Str()
    size_bytes = Int()
    sha256 = Str()
    url = ma.fields.Method("_url")

    def _url(self, file):
        return f"/api/v1/filings/{file.filing_id}?format={file.format}"


class FilingSchema(ma.Schema):
    id = Int()
    manufacturer_id = Int()
    version = Int()
    as_of = ma.fields.Date()
    layout = Str()
    status = ma.fields.Function(lambda f: f.status.value)
    row_count = Int()
    flagged_count = Int()
    uncovered_count = Int()
    unconfirmed_count = Int()
    snapshot_sha256 = Str()
    generated_at = ma.fields.AwareDateTime()
    submitted_on = ma.fields.Date(allow_none=True)
    submission_reference = Str(allow_none=True)
    run_id = Int(allow_none=True)
    files = ma.fields.List(ma.fields.Nested(FileSchema))


class FilingListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(FilingSchema))


class ListQuerySchema(ma.Schema):
    manufacturer_id = Int(load_default=None)
    run_id = Int(load_default=None)


class DownloadQuerySchema(ma.Schema):
    format = Str(load_default=None, validate=ma.validate.OneOf(filings.FORMATS), metadata={
        "description": "Download this format instead of the version's description"})


class SubmissionSchema(ma.Schema):
    submitted_on = Str(required=True, metadata={"description": "YYYY-MM-DD"})
    reference = Str(required=True, metadata={"description": "The regulator's submission reference"})


class ConfirmSchema(ma.Schema):
    password = Str(required=True, load_only=True)
    document_sha256 = Str(required=True)


class RunInSchema(ma.Schema):
    as_of = ma.fields.Date(load_default=None)


class RunSchema(ma.Schema):
    id = Int()
    as_of = ma.fields.Date()
    status = ma.fields.Function(lambda r: r.status.value)
    total = Int()
    done = Int()
    error = Str(allow_none=True)
    mode = Str()
    created_at = ma.fields.AwareDateTime()
    finished_at = ma.fields.AwareDateTime(allow_none=True)


class PublicQuerySchema(ma.Schema):
    format = Str(load_default="csv", validate=ma.validate.OneOf(("csv", "xlsx")))


FILING_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def file_response(content: bytes, content_type: str, filename: str, sha256: str | None = None) -> Response:
    response = Response(content, mimetype=content_type.split(";")[0])
    if "charset" in content_type:
        response.headers["Content-Type"] = content_type
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if sha256:
        response.headers["X-Content-SHA256"] = sha256
    return response


def _maker_for(manufacturer_id):
    from app.models import Organization

    if manufacturer_id and permissions.is_operator(actor()):
        maker = db.session.get(Organization, manufacturer_id)
        if maker is None:
            raise ValidationFailed(_l("Unknown manufacturer."), {"manufacturer_id": [_l("not found")]})
        return maker
    return filings.manufacturer_of(actor())


@blp.route("/filings", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(GenerateSchema)
@blp.response(201, FilingSchema)
def generate(body):
    """Generate the next version of your outlet filing (XLSX, CSV, PDF and JSON, stored with
    each file's SHA-256)."""
    filing = filings.generate(actor(), _maker_for(body["manufacturer_id"]), body["as_of"])
    db.session.commit()
    return filing


@blp.route("/filings", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(ListQuerySchema, location="query")
@blp.response(200, FilingListSchema)
def list_filings(query):
    """Your filing versions, newest first (operators: every maker's, filterable)."""
    return {"items": filings.list_for(actor(), manufacturer_id=query["manufacturer_id"],
                                      run_id=query["run_id"])}


@blp.route("/filings/<int:filing_id>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(DownloadQuerySchema, location="query")
@blp.response(200, FilingSchema)
def get_filing(query, filing_id):
    """One version with its files; `?format=xlsx|csv|pdf|json` downloads that file (the
    X-Content-SHA256 header repeats its stored hash)."""
    if query["format"]:
        file = filings.file_of(actor(), filing_id, query["format"])
        return file_response(file.content, file.content_type, file.filename, file.sha256)
    return filings.get_visible(actor(), filing_id)


@blp.route("/filings/<int:filing_id>/snapshot", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer("The snapshot")})
def get_snapshot(filing_id):
    """The data snapshot the version was generated from (rows, left out, not covered)."""
    return filings.get_visible(actor(), filing_id).snapshot


@blp.route("/filings/<int:filing_id>/submission", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(SubmissionSchema)
@blp.response(200, FilingSchema)
def submit(body, filing_id):
    """Mark the version as submitted to the regulator (date and submission reference)."""
    filing = filings.mark_submitted(actor(), filing_id, submitted_on=body["submitted_on"],
                                    reference=body["reference"])
    db.session.commit()
    return filing


@blp.route("/filings/<int:filing_id>/changes", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer("Outlets added, removed and changed")})
def changes(filing_id):
    """The change filing: outlets added, removed and changed (field by field, old and new)
    since the last submitted version before this one."""
    return filings.change_filing(actor(), filing_id)


@blp.route("/joint-filings", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer("Joint filings", "items")})
def list_joint():
    """Current joint filings your organizations are party to; `?awaiting=1`: only those
    awaiting your confirmation."""
    awaiting = request.args.get("awaiting", "").lower() in {"1", "true", "yes"}
    return {"items": joint_filings.list_for(actor(), awaiting_only=awaiting)}


@blp.route("/joint-filings/<int:joint_id>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": json_answer("The joint filing and its confirmations")})
def get_joint(joint_id):
    """One joint filing with its text, hash and one confirmation line per party."""
    joint = joint_filings.get_visible(actor(), joint_id)
    return joint_filings.view(joint, pending_for=joint_filings.pending_party(actor(), joint))


@blp.route("/joint-filings/<int:joint_id>/confirmations", methods=["POST"])
@authenticated
@blp.doc(security=BEARER, responses={"201": json_answer("The joint filing and its confirmations")})
@blp.arguments(ConfirmSchema)
def confirm_joint(body, joint_id):
    """Confirm the joint filing for your organization (owner or admin; re-enter your password
    and send the SHA-256 of the text you read)."""
    joint_filings.confirm(actor(), joint_id, password=body["password"],
                          document_sha256=body["document_sha256"])
    db.session.commit()
    joint = joint_filings.get_visible(actor(), joint_id)
    return joint_filings.view(joint), 201


@blp.route("/filing-runs", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(RunInSchema)
@blp.response(202, RunSchema)
def start_run(body):
    """Operators: generate every verified maker's filing (in the background when REDIS_URL is
    set; otherwise before this answers)."""
    background = bool(current_app.config.get("REDIS_URL"))
    run = filing_runs.start(actor(), body["as_of"], mode="queue" if background else "inline")
    db.session.commit()
    if background:
        filing_runs.run_in_background(current_app._get_current_object(), run.id)
    else:
        run = filing_runs.execute(run.id, db.session.commit)
    return run


@blp.route("/filing-runs/<int:run_id>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, RunSchema)
def get_run(run_id):
    """A run's progress (done of total)."""
    return filing_runs.get(actor(), run_id)


@blp.route("/filing-runs/<int:run_id>/archive", methods=["GET"])
@authenticated
@blp.doc(security=BEARER, responses={"200": file_answer("The run's files and SHA256SUMS", "application/zip")})
def run_archive(run_id):
    """Every file the run generated, in one ZIP with a SHA256SUMS manifest."""
    run = filing_runs.get(actor(), run_id)
    content = filings.archive(filings.list_for(actor(), run_id=run.id))
    return file_response(content, "application/zip", f"outlet-filings-run{run.id}-{run.as_of}.zip")


@blp.route("/public-disclosure", methods=["GET"])
@blp.arguments(PublicQuerySchema, location="query")
@blp.doc(responses={"200": file_answer("The public list", "text/csv", FILING_XLSX)})
def public_disclosure(query):
    """The national public list of listed outlets with their makers (regulator's layout)."""
    from services.filing_documents import FORMATS

    content = filings.public_list(query["format"])
    return file_response(content, FORMATS[query["format"]], f"outlet-public-list.{query['format']}")
