"""WTForms for the pages; business validation stays in services and comes back as field errors."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.transactions import committed
from services.errors import ServiceError

KIND_CHOICES = [
    ("manufacturer", _l("Manufacturer (car or battery maker)")),
    ("provider", _l("Site provider (recycler, logistics, dismantler)")),
    ("certifier", _l("Certification body")),
]
PROVIDER_TYPE_CHOICES = [
    ("", _l("— not a site provider —")),
    ("utilization", _l("Comprehensive-utilization firm")),
    ("logistics", _l("Logistics or warehousing firm")),
    ("dismantler", _l("End-of-life vehicle dismantler")),
    ("manufacturer", _l("Manufacturer offering its own outlets")),
]
class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


ROLE_CHOICES = [("member", _l("Member")), ("admin", _l("Admin")), ("owner", _l("Owner"))]


class OrganizationProfileFields:
    legal_name = StringField(_l("Legal name (Chinese)"), validators=[DataRequired(), Length(max=200)])
    english_name = StringField(_l("English name"), validators=[Optional(), Length(max=200)])
    address = StringField(_l("Registered address"), validators=[DataRequired(), Length(max=300)],
                          description=_l("Province, city and district, e.g. 广东省深圳市南山区…"))
    provider_type = SelectField(_l("Provider type"), choices=PROVIDER_TYPE_CHOICES,
                                validators=[Optional()])
    contact_name = StringField(_l("Contact person"), validators=[Optional(), Length(max=100)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    contact_email = EmailField(_l("Contact e-mail"), validators=[Optional(), Length(max=254)])


class SignupForm(OrganizationProfileFields, FlaskForm):
    kind = SelectField(_l("Organization kind"), choices=KIND_CHOICES, validators=[DataRequired()])
    credit_code = StringField(_l("Unified Social Credit Code"),
                              validators=[DataRequired(), Length(max=30)],
                              description=_l("18 characters, as on the business licence"))
    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("Your e-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired()],
                             description=_l("At least 10 characters"))
    submit = SubmitField(_l("Create account"))

    ORG_FIELDS = ("kind", "provider_type", "legal_name", "english_name", "credit_code", "address",
                  "contact_name", "contact_phone", "contact_email")

    def organization_data(self) -> dict:
        return {name: getattr(self, name).data for name in self.ORG_FIELDS}

    def user_data(self) -> dict:
        return {"email": self.email.data, "password": self.password.data, "name": self.name.data}


class ProfileForm(OrganizationProfileFields, FlaskForm):
    submit = SubmitField(_l("Save"))

    FIELDS = ("legal_name", "english_name", "address", "provider_type", "contact_name",
              "contact_phone", "contact_email")

    def data_for(self, kind: str) -> dict:
        data = {name: getattr(self, name).data for name in self.FIELDS}
        if kind != "provider":
            data.pop("provider_type")
        return data


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    submit = SubmitField(_l("Sign in"))


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired()])
    submit = SubmitField(_l("Send reset link"))


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired()])
    submit = SubmitField(_l("Set password"))


class AcceptInvitationForm(FlaskForm):
    name = StringField(_l("Your name"), validators=[Optional(), Length(max=100)])
    password = PasswordField(_l("Choose a password"), validators=[Optional()])
    submit = SubmitField(_l("Join"))


class InviteForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="member")
    submit = SubmitField(_l("Send invitation"))


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    submit = SubmitField(_l("Change"))


class ActionForm(FlaskForm):
    """A bare form: a button that posts, protected by the CSRF token."""

    submit = SubmitField(_l("Confirm"))


class VerificationForm(FlaskForm):
    status = SelectField(_l("Decision"), choices=[("verified", _l("Verify")),
                                                  ("rejected", _l("Reject"))])
    reason = TextAreaField(_l("Reason (required to reject)"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Record decision"))


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(_l("Confirm your password"), validators=[DataRequired()])
    submit = SubmitField(_l("Create token"))


def apply_errors(form: FlaskForm, error: ServiceError) -> None:
    """Put a service's field messages on the matching form fields (nested paths flattened)."""

    def walk(fields: dict) -> None:
        for name, messages in fields.items():
            if isinstance(messages, dict):
                walk(messages)
                continue
            field = getattr(form, name, None)
            target = field.errors if field is not None and hasattr(field, "errors") else None
            for message in messages:
                if target is not None:
                    if isinstance(target, tuple):
                        field.errors = list(target)
                        target = field.errors
                    target.append(str(message))
                else:
                    form.form_errors.append(f"{name}: {message}")

    walk(error.fields)
    if not error.fields:
        form.form_errors.append(str(error.message))


class OutletForm(FlaskForm):
    name = StringField(_l("Outlet name"), validators=[DataRequired(), Length(max=200)])
    address = StringField(
        _l("Detailed address"), validators=[DataRequired(), Length(max=300)],
        description=_l("Province, city, district and street, e.g. 广东省深圳市南山区科技园南区10号"))
    lat = DecimalField(
        _l("Latitude"), places=6, validators=[Optional()],
        description=_l("Drag the marker on the map, or leave empty to use the district centre"))
    lon = DecimalField(_l("Longitude"), places=6, validators=[Optional()])
    type = SelectField(_l("Outlet type"), choices=[
        ("collection", _l("Collection (收集型)")),
        ("centralized_storage", _l("Centralized storage (集中贮存型)"))])
    storage_area_m2 = DecimalField(_l("Storage area (m²)"), validators=[DataRequired()])
    max_stored_weight_t = DecimalField(_l("Maximum stored weight (t)"), validators=[DataRequired()])
    annual_capacity_t = DecimalField(_l("Annual handling capacity (t/year)"), validators=[DataRequired()])
    chemistries = MultiCheckboxField(_l("Accepted chemistries"))
    safety_classes = MultiCheckboxField(_l("Accepted safety classes"))
    facilities = TextAreaField(_l("Facilities"), validators=[Optional(), Length(max=2000)])
    opening_hours = StringField(_l("Opening hours"), validators=[Optional(), Length(max=200)])
    contact_name = StringField(_l("Contact person"), validators=[Optional(), Length(max=100)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    establishment = SelectField(_l("How it was established"), choices=[
        ("self_built", _l("Self-built (自建)")), ("co_built", _l("Co-built (共建)")),
        ("authorized", _l("Authorized (授权)"))])
    established_with = StringField(_l("Co-building or authorizing parties"),
                                   validators=[Optional(), Length(max=300)])
    submit = SubmitField(_l("Save outlet"))

    FIELDS = ("name", "address", "lat", "lon", "type", "storage_area_m2", "max_stored_weight_t",
              "annual_capacity_t", "chemistries", "safety_classes", "facilities", "opening_hours",
              "contact_name", "contact_phone", "establishment", "established_with")

    def outlet_data(self) -> dict:
        data = {}
        for name in self.FIELDS:
            value = getattr(self, name).data
            data[name] = float(value) if isinstance(value, Decimal) else value
        return data


def whole_fen(form, field) -> None:
    """Yuan with at most two decimals: a fen amount is never rounded behind the user's back."""
    if field.data is not None and (field.data * 100) != (field.data * 100).to_integral_value():
        raise ValidationError(_l("at most two decimals (whole fen)"))


class OfferForm(FlaskForm):
    capacity_t_per_year = DecimalField(_l("Capacity offered (t/year)"), validators=[DataRequired()])
    annual_fee_yuan = DecimalField(_l("Annual fee per partner (CNY)"), places=2,
                                   validators=[DataRequired(), whole_fen])
    handling_fee_yuan_per_t = DecimalField(_l("Handling fee per tonne (CNY)"), places=2,
                                           validators=[DataRequired(), whole_fen])
    min_term_months = IntegerField(_l("Minimum term (months)"), validators=[DataRequired()])
    available_from = DateField(_l("Available from"), validators=[DataRequired()])
    available_to = DateField(_l("Available until"), validators=[Optional()])
    submit = SubmitField(_l("Save offer"))

    def offer_data(self) -> dict:
        # Yuan on the page, integer fen everywhere else.
        return {
            "capacity_t_per_year": float(self.capacity_t_per_year.data),
            "annual_fee_fen": int((self.annual_fee_yuan.data * 100).to_integral_value()),
            "handling_fee_fen_per_t": int((self.handling_fee_yuan_per_t.data * 100).to_integral_value()),
            "min_term_months": self.min_term_months.data,
            "available_from": self.available_from.data,
            "available_to": self.available_to.data,
        }


class StatusForm(FlaskForm):
    status = HiddenField()
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Apply"))


class EvidenceForm(FlaskForm):
    file = FileField(_l("Photo or PDF"), validators=[DataRequired()])
    checklist_item = SelectField(_l("Checklist item"), validate_choice=False, coerce=str)
    submit = SubmitField(_l("Upload"))


# --- certification workflow -----------------------------------------------------------------

OUTLET_TYPE_CHOICES = [("collection", _l("Collection (收集型)")),
                       ("centralized_storage", _l("Centralized storage (集中贮存型)"))]


class SchemeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
    version = StringField(_l("Version"), validators=[DataRequired(), Length(max=20)],
                          description=_l("A scheme in use keeps what it audits: change it by "
                                         "creating a new version."))
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=200)])
    issuing_body = StringField(_l("Issuing body"), validators=[DataRequired(), Length(max=200)])
    outlet_types = MultiCheckboxField(_l("Outlet types in scope"), choices=OUTLET_TYPE_CHOICES)
    checklist_items = MultiCheckboxField(_l("Checklist items audited"), coerce=int,
                                         validate_choice=False)
    validity_months = IntegerField(_l("Validity (months)"), default=36,
                                   validators=[DataRequired()])
    surveillance_interval_months = IntegerField(_l("Surveillance audit interval (months)"),
                                                default=12, validators=[DataRequired()])
    active = SelectField(_l("Takes applications"), choices=[("1", _l("Active")),
                                                            ("0", _l("Inactive"))], default="1")
    submit = SubmitField(_l("Save scheme"))

    TEXT_FIELDS = ("code", "version", "name_zh", "name_en", "issuing_body")

    def scheme_data(self) -> dict:
        data = {name: getattr(self, name).data for name in self.TEXT_FIELDS}
        data.update(outlet_types=self.outlet_types.data or [],
                    checklist_items=self.checklist_items.data or [],
                    validity_months=self.validity_months.data,
                    surveillance_interval_months=self.surveillance_interval_months.data,
                    active=self.active.data == "1")
        return data


class AccreditationForm(FlaskForm):
    number = StringField(_l("Accreditation number"), validators=[DataRequired(), Length(max=60)])
    accrediting_body = StringField(_l("Accrediting body"), validators=[DataRequired(), Length(max=200)],
                                   description=_l("e.g. CNAS (China National Accreditation Service)"))
    valid_until = DateField(_l("Valid until"), validators=[DataRequired()])
    submit = SubmitField(_l("Submit for verification"))


class RelationshipForm(FlaskForm):
    credit_code = StringField(_l("Unified Social Credit Code of the related organization"),
                              validators=[DataRequired(), Length(max=30)])
    nature = StringField(_l("Nature of the relationship"), validators=[DataRequired(), Length(max=200)],
                         description=_l("Shareholding, consulting, shared management, ..."))
    submit = SubmitField(_l("Declare"))


class ApplyForm(FlaskForm):
    purpose = SelectField(_l("Purpose"), validate_choice=False)
    scheme_id = SelectField(_l("Certification scheme"), coerce=int, validate_choice=False)
    certifier_id = SelectField(_l("Certification body"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("Apply"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Confirm"))


class ScheduleAuditForm(FlaskForm):
    audit_date = DateField(_l("Audit date"), validators=[DataRequired()])
    auditor_id = SelectField(_l("Auditor"), coerce=int, validate_choice=False)
    submit = SubmitField(_l("Schedule the audit"))


class CorrectiveActionForm(FlaskForm):
    corrective_action = TextAreaField(_l("Corrective action"),
                                      validators=[DataRequired(), Length(max=2000)])
    file = FileField(_l("Evidence (photo or PDF)"),
                     description=_l("Required for a major nonconformity"))
    submit = SubmitField(_l("Send the answer"))


class FindingVerificationForm(FlaskForm):
    outcome = HiddenField()
    note = StringField(_l("Note"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Confirm"))


def commit_action(form: FlaskForm, action):
    """Run a submitted form's service action and commit (one action, one transaction).

    Returns (result, None); on a ServiceError rolls back, puts its messages on the form and
    returns (None, the status to answer with: 422 for bad input, 409 for a conflict...)."""
    result, error = committed(action, catching=ServiceError)
    if error:
        apply_errors(form, error)
        return None, error.status if error.status != 400 else 422
    return result, None
