"""Organizations, their members and invitations, and operator verification."""

from __future__ import annotations

from app import notifications
from app.api.common import BEARER, Blueprint, actor, authenticated, page_answer, page_schema
from app.api.schemas import (
    InvitationInSchema,
    InvitationSchema,
    MemberSchema,
    OrganizationQuerySchema,
    OrganizationSchema,
    OrganizationUpdateSchema,
    RoleChangeSchema,
    VerificationInSchema,
)
from app.extensions import db
from services import accounts, organizations, permissions

blp = Blueprint("api_organizations", __name__, url_prefix="/api/v1/organizations",
                description="Organizations, members, invitations, verification")

OrganizationPageSchema = page_schema(OrganizationSchema, "OrganizationPage")


@blp.route("", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(OrganizationQuerySchema, location="query")
@blp.response(200, OrganizationPageSchema)
def list_organizations(query):
    """Your organizations; operators see every organization, filtered by status and kind."""
    caller = actor()
    if permissions.operator_membership(caller.user) is not None:
        items, total = organizations.review_queue(
            caller, query.get("status"), kind=query.get("kind"),
            page=query["page"], per_page=query["per_page"])
    else:
        items = organizations.of_user(caller.user)
        total = len(items)
    return page_answer(items, total, query)


@blp.route("/<int:organization_id>", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, OrganizationSchema)
def get_organization(organization_id):
    """One organization you belong to (operators: any)."""
    return organizations.get_visible(actor(), organization_id)


@blp.route("/<int:organization_id>", methods=["PATCH"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(OrganizationUpdateSchema)
@blp.response(200, OrganizationSchema)
def update_organization(body, organization_id):
    """Edit your organization's profile (owners and admins)."""
    caller = actor()
    organization = organizations.get_own(caller, organization_id)
    organizations.update_profile(caller, organization, body)
    db.session.commit()
    return organization


@blp.route("/<int:organization_id>/members", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, MemberSchema(many=True))
def list_members(organization_id):
    caller = actor()
    return accounts.members_of(caller, organizations.get_own(caller, organization_id))


@blp.route("/<int:organization_id>/members/<int:membership_id>", methods=["PATCH"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(RoleChangeSchema)
@blp.response(200, MemberSchema)
def change_member_role(body, organization_id, membership_id):
    """Change a member's role (owners only; the last owner stays)."""
    caller = actor()
    organization = organizations.get_own(caller, organization_id)
    membership = accounts.change_role(caller, organization, membership_id, body["role"])
    db.session.commit()
    return membership


@blp.route("/<int:organization_id>/members/<int:membership_id>", methods=["DELETE"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(204)
def remove_member(organization_id, membership_id):
    caller = actor()
    organization = organizations.get_own(caller, organization_id)
    accounts.remove_member(caller, organization, membership_id)
    db.session.commit()


@blp.route("/<int:organization_id>/invitations", methods=["GET"])
@authenticated
@blp.doc(security=BEARER)
@blp.response(200, InvitationSchema(many=True))
def list_invitations(organization_id):
    caller = actor()
    organization = organizations.get_own(caller, organization_id)
    permissions.require(caller.user, "members.invite", organization)
    return accounts.pending_invitations(organization)


@blp.route("/<int:organization_id>/invitations", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(InvitationInSchema)
@blp.response(201, InvitationSchema)
def invite_member(body, organization_id):
    """Invite someone by e-mail; they get a link valid for 7 days."""
    caller = actor()
    organization = organizations.get_own(caller, organization_id)
    issued = accounts.invite(caller, organization, body["email"], body["role"])
    db.session.commit()
    notifications.send_invitation(issued, caller.user.name)
    return issued.invitation


@blp.route("/<int:organization_id>/verification", methods=["POST"])
@authenticated
@blp.doc(security=BEARER)
@blp.arguments(VerificationInSchema)
@blp.response(200, OrganizationSchema)
def set_verification(body, organization_id):
    """Operators: verify an organization, or reject it with a reason."""
    organization = organizations.set_verification(actor(), organization_id, body["status"],
                                                  body.get("reason"))
    db.session.commit()
    return organization
