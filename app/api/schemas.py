"""Schemas for organizations, people and tokens, shared by the API modules."""

from __future__ import annotations

import marshmallow as ma

from app.models import MemberRole, OrgKind, ProviderType, VerificationStatus

Str = ma.fields.String


class OrganizationInSchema(ma.Schema):
    kind = Str(required=True, metadata={"enum": ["manufacturer", "provider", "certifier"]})
    provider_type = Str(allow_none=True, metadata={
        "enum": [p.value for p in ProviderType], "description": "Required for providers"})
    legal_name = Str(required=True, metadata={"description": "Legal name in Chinese"})
    english_name = Str(allow_none=True)
    credit_code = Str(required=True, metadata={
        "description": "Unified Social Credit Code (GB 32100), 18 characters with check character"})
    address = Str(required=True, metadata={"description": "Registered address, resolved to a division"})
    division_code = Str(allow_none=True, metadata={"description": "6-digit adcode (optional)"})
    contact_name = Str(allow_none=True)
    contact_phone = Str(allow_none=True)
    contact_email = Str(allow_none=True)


class OrganizationUpdateSchema(ma.Schema):
    legal_name = Str()
    english_name = Str(allow_none=True)
    address = Str()
    division_code = Str(allow_none=True)
    provider_type = Str(allow_none=True)
    contact_name = Str(allow_none=True)
    contact_phone = Str(allow_none=True)
    contact_email = Str(allow_none=True)


class DivisionRefSchema(ma.Schema):
    code = Str()
    name = Str()
    level = Str()


class OrganizationSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.Enum(OrgKind, by_value=True)
    provider_type = ma.fields.Enum(ProviderType, by_value=True, allow_none=True)
    legal_name = Str()
    english_name = Str(allow_none=True)
    credit_code = Str()
    address = Str()
    division = ma.fields.Nested(DivisionRefSchema)
    contact_name = Str(allow_none=True)
    contact_phone = Str(allow_none=True)
    contact_email = Str(allow_none=True)
    verification_status = ma.fields.Enum(VerificationStatus, by_value=True)
    verification_reason = Str(allow_none=True)
    verified_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class UserInSchema(ma.Schema):
    email = Str(required=True)
    password = Str(required=True, load_only=True)
    name = Str(required=True)


class SignupSchema(ma.Schema):
    organization = ma.fields.Nested(OrganizationInSchema, required=True)
    user = ma.fields.Nested(UserInSchema, required=True)


class SignupResultSchema(ma.Schema):
    organization_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    organization = ma.fields.Nested(OrganizationSchema)


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    email = Str()
    name = Str()
    locale = Str(allow_none=True)
    created_at = ma.fields.AwareDateTime()


class MembershipSchema(ma.Schema):
    id = ma.fields.Integer()
    role = ma.fields.Enum(MemberRole, by_value=True)
    organization = ma.fields.Nested(OrganizationSchema)


class MemberSchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "Membership id"})
    role = ma.fields.Enum(MemberRole, by_value=True)
    user = ma.fields.Nested(UserSchema)
    created_at = ma.fields.AwareDateTime()


class MeSchema(ma.Schema):
    user = ma.fields.Nested(UserSchema)
    memberships = ma.fields.List(ma.fields.Nested(MembershipSchema))


class TokenRequestSchema(ma.Schema):
    email = Str(required=True)
    password = Str(required=True, load_only=True)
    name = Str(load_default="API token")


class TokenSchema(ma.Schema):
    id = ma.fields.Integer()
    name = Str()
    prefix = Str()
    created_at = ma.fields.AwareDateTime()
    last_used_at = ma.fields.AwareDateTime(allow_none=True)
    revoked_at = ma.fields.AwareDateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = Str(metadata={"description": "Shown once; store it now"})


class InvitationInSchema(ma.Schema):
    email = Str(required=True)
    role = Str(load_default="member", metadata={"enum": [r.value for r in MemberRole]})


class InvitationSchema(ma.Schema):
    id = ma.fields.Integer()
    email = Str()
    role = ma.fields.Enum(MemberRole, by_value=True)
    created_at = ma.fields.AwareDateTime()
    expires_at = ma.fields.AwareDateTime()


class RoleChangeSchema(ma.Schema):
    role = Str(required=True, metadata={"enum": [r.value for r in MemberRole]})


class VerificationInSchema(ma.Schema):
    status = Str(required=True, metadata={"enum": ["verified", "rejected"]})
    reason = Str(allow_none=True, validate=ma.validate.Length(max=2000))


class OrganizationQuerySchema(ma.Schema):
    status = Str(metadata={"enum": [s.value for s in VerificationStatus]})
    kind = Str(metadata={"enum": [k.value for k in OrgKind]})
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
