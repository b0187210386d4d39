"""Sign-up, sign-in, invitations, password resets and personal API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, with_expression

from app.extensions import db
from app.models import (
    ApiToken,
    Invitation,
    MemberRole,
    Membership,
    Notification,
    Organization,
    OrgKind,
    User,
    VerificationStatus,
)
from app.models.types import utcnow
from services import audit, data_versions, organizations, passwords, permissions, snapshots
from services.audit import Actor
from services.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)

TOKEN_PREFIX = "op_"  # noqa: S105 - a public prefix, not a secret
PASSWORD_MIN_LENGTH = 10


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email == normalize_email(email))
    ).scalar_one_or_none()


def _check_new_user(email: str, password: str, name: str, prefix: str = "") -> tuple[str, dict]:
    email = normalize_email(email)
    errors: dict[str, list] = {}
    if not name or not name.strip():
        errors[f"{prefix}name"] = [_l("is required")]
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        errors[f"{prefix}email"] = [_l("is not a valid e-mail address")]
    elif find_user_by_email(email) is not None:
        errors[f"{prefix}email"] = [_l("is already registered; sign in instead")]
    problems = passwords.problems(password or "", min_length=PASSWORD_MIN_LENGTH, email=email)
    if problems:
        errors[f"{prefix}password"] = problems
    return email, errors


def _create_user(email: str, password: str, name: str, locale: str | None = None) -> User:
    user = User(email=email, name=name.strip(), password_hash=passwords.hash_password(password),
                locale=locale)
    db.session.add(user)
    db.session.flush()
    return user


def signup(org_data: dict, user_data: dict, *, ip: str | None = None,
           locale: str | None = None) -> tuple[Organization, User]:
    """Create an organization (pending verification) and its owner, in one transaction."""
    if org_data.get("kind") == OrgKind.OPERATOR.value:
        raise ValidationFailed(_l("Operator organizations cannot sign up."),
                               {"organization": {"kind": [_l("operator is not open for sign-up")]}})
    org_fields, org_errors = organizations.check_profile(org_data, creating=True)
    email, user_errors = _check_new_user(user_data.get("email", ""), user_data.get("password", ""),
                                         user_data.get("name", ""))
    if org_errors or user_errors:
        fields = {}
        if org_errors:
            fields["organization"] = org_errors
        if user_errors:
            fields["user"] = user_errors
        raise ValidationFailed(_l("Some fields need correcting."), fields)
    org = Organization(**org_fields)
    db.session.add(org)
    user = _create_user(email, user_data["password"], user_data["name"], locale)
    db.session.add(Membership(user=user, organization=org, role=MemberRole.OWNER))
    db.session.flush()
    actor = Actor(user=user, ip=ip)
    audit.record(actor, "organization.signed_up", "organization", org.id,
                 organization_id=org.id,
                 data={"kind": org.kind.value, "credit_code": org.credit_code,
                       "owner_email": user.email})
    return org, user


def authenticate(email: str, password: str) -> User:
    user = find_user_by_email(email)
    if user is None:
        passwords.burn_time(password or "")
        raise AuthenticationFailed(_l("E-mail or password is wrong."))
    if not passwords.verify(user.password_hash, password or ""):
        raise AuthenticationFailed(_l("E-mail or password is wrong."))
    if not user.is_active:
        raise AuthenticationFailed(_l("This account is disabled."))
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def confirm_password(user: User, password: str) -> None:
    """Re-entered password before a sensitive action (signing, tokens)."""
    if not passwords.verify(user.password_hash, password or ""):
        raise ValidationFailed(_l("The password is wrong."), {"password": [_l("is wrong")]})


# --- API tokens -------------------------------------------------------------------------

def create_token(user: User, name: str, *, ip: str | None = None) -> tuple[ApiToken, str]:
    """A new personal token; the raw value is returned once and never stored."""
    name = (name or "").strip() or "API token"
    if len(name) > 100:
        raise ValidationFailed(_l("Token name is too long."), {"name": [_l("at most 100 characters")]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=_sha256(raw), prefix=raw[:10])
    db.session.add(token)
    db.session.flush()
    audit.record(Actor(user=user, ip=ip), "api_token.created", "api_token", token.id,
                 data={"name": name, "prefix": token.prefix})
    return token, raw


# Every request of a signed-in user needs their memberships and organizations (navigation,
# permissions): loaded with the user in one statement, not three round trips. Not the
# organizations' divisions (joined by default): the two pages that show one load it then.
_MEMBERSHIPS = (joinedload(User.memberships).joinedload(Membership.organization)
                .lazyload(Organization.division))
# A page's navigation also shows the unread count: one more column of the same statement.
_UNREAD = with_expression(User.unread_notifications, select(func.count()).where(
    Notification.user_id == User.id, Notification.read_at.is_(None)).correlate(User).scalar_subquery())
# Who is signed in is kept in the "accounts" cache (services.data_versions), which every write
# to users, memberships, organizations, tokens and notifications invalidates at once. A
# password hash has no place in a cache: reading it loads it.
_NOT_CACHED = frozenset({"password_hash"})


def signed_in_user(user_id: int) -> User | None:
    """The session's user, with what every page shows of them; the unread count is as of
    the start of the request. Loading them was a third of a signed-in request's work, the same
    on every request until something about them changes; it now comes from the cache."""
    kept = data_versions.cached("accounts", ("signed-in user", user_id),
                                lambda: _principal(db.session.get(User, user_id,
                                                                  options=[_MEMBERSHIPS, _UNREAD])))
    return _user_from(kept) if kept else None


def _principal(user: User | None) -> dict | None:
    """What signed_in_user keeps of a user: plain values, shared between requests."""
    if user is None:
        return None
    return {"user": snapshots.values_of(user, leave_out=_NOT_CACHED),
            "unread": user.unread_notifications,
            "memberships": [(snapshots.values_of(m), snapshots.values_of(m.organization))
                            for m in user.memberships]}


def _user_from(kept: dict) -> User:
    user = snapshots.attach(User, kept["user"])
    memberships = []
    for membership_values, organization_values in kept["memberships"]:
        membership = snapshots.attach(Membership, membership_values)
        snapshots.set_loaded(membership, "organization", snapshots.attach(Organization, organization_values))
        snapshots.set_loaded(membership, "user", user)
        memberships.append(membership)
    snapshots.set_loaded(user, "memberships", memberships)
    snapshots.set_loaded(user, "unread_notifications", kept["unread"])
    return user


def user_for_token(raw: str) -> tuple[User | None, bool]:
    """The token's user, and whether its `last_used_at` was just touched: at most every five
    minutes, since a write per request would cost more than it tells. The caller commits a
    touch on its own, at once, so it is kept even for read-only calls and does not hold the
    token's row lock through the request (every call with the same token would queue on it).
    Like signed_in_user, from the "accounts" cache: a revocation is a write to it."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None, False
    token_hash = _sha256(raw)
    kept = data_versions.cached("accounts", ("api token", token_hash),
                                lambda: _token_principal(token_hash))
    if kept is None:
        return None, False
    token = snapshots.attach(ApiToken, kept["token"])
    snapshots.set_loaded(token, "user", _user_from(kept))
    if token.revoked_at is not None or not token.user.is_active:
        return None, False
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at <= timedelta(minutes=5):
        return token.user, False
    token.last_used_at = now
    return token.user, True


def _token_principal(token_hash: str) -> dict | None:
    token = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == token_hash)
        .options(joinedload(ApiToken.user).options(_MEMBERSHIPS, _UNREAD))
    ).unique().scalar_one_or_none()
    if token is None:
        return None
    return {"token": snapshots.values_of(token), **_principal(token.user)}


def tokens_of(user: User) -> list[ApiToken]:
    return list(db.session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
    ).scalars())


def revoke_token(user: User, token_id: int, *, ip: str | None = None) -> ApiToken:
    token = db.session.execute(
        select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id)
    ).scalar_one_or_none()
    if token is None:
        raise NotFound("api token", token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
        audit.record(Actor(user=user, ip=ip), "api_token.revoked", "api_token", token.id)
    return token


# --- Invitations ------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedInvitation:
    invitation: Invitation
    token: str


def invite(actor: Actor, organization: Organization, email: str, role: str,
           *, max_age_days: int = 7) -> IssuedInvitation:
    permissions.require(actor.user, "members.invite", organization)
    email = normalize_email(email)
    errors: dict[str, list] = {}
    if "@" not in email:
        errors["email"] = [_l("is not a valid e-mail address")]
    try:
        role_value = MemberRole(role)
    except ValueError:
        errors["role"] = [_l("must be one of owner, admin, member")]
        role_value = None
    if errors:
        raise ValidationFailed(_l("Some fields need correcting."), errors)
    inviter = permissions.membership_of(actor.user, organization.id)
    if role_value is MemberRole.OWNER and inviter.role is not MemberRole.OWNER:
        raise PermissionDenied(_l("Only an owner can invite another owner."))
    already = db.session.execute(
        select(Membership).join(User).where(
            Membership.organization_id == organization.id, User.email == email)
    ).scalar_one_or_none()
    if already is not None:
        raise Conflict(_l("This person is already a member."), {"email": [_l("already a member")]})
    raw = secrets.token_urlsafe(32)
    invitation = Invitation(
        organization=organization, email=email, role=role_value, token_hash=_sha256(raw),
        invited_by_id=actor.user_id, expires_at=utcnow() + timedelta(days=max_age_days),
    )
    db.session.add(invitation)
    db.session.flush()
    audit.record(actor, "member.invited", "invitation", invitation.id,
                 organization_id=organization.id, data={"email": email, "role": role_value.value})
    return IssuedInvitation(invitation, raw)


def pending_invitation(raw_token: str) -> Invitation:
    invitation = db.session.execute(
        select(Invitation).where(Invitation.token_hash == _sha256(raw_token or ""))
    ).scalar_one_or_none()
    if (invitation is None or invitation.accepted_at is not None
            or invitation.revoked_at is not None or invitation.expires_at < utcnow()):
        raise NotFound(_l("invitation (it may have expired or been used)"))
    return invitation


def pending_invitations(organization: Organization) -> list[Invitation]:
    return list(db.session.execute(
        select(Invitation).where(
            Invitation.organization_id == organization.id,
            Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None),
            Invitation.expires_at > utcnow(),
        ).order_by(Invitation.id.desc())
    ).scalars())


def accept_invitation(raw_token: str, *, user: User | None = None, name: str = "",
                      password: str = "", ip: str | None = None) -> Membership:
    """Join the inviting organization: as the signed-in user, or as a new account."""
    invitation = pending_invitation(raw_token)
    if user is None:
        if find_user_by_email(invitation.email) is not None:
            raise AuthenticationFailed(_l("Sign in as %(email)s to accept this invitation.",
                                          email=invitation.email))
        email, errors = _check_new_user(invitation.email, password, name)
        if errors:
            raise ValidationFailed(_l("Some fields need correcting."), errors)
        user = _create_user(email, password, name)
    elif user.email != invitation.email:
        raise PermissionDenied(_l("This invitation was sent to %(email)s.", email=invitation.email))
    if permissions.membership_of(user, invitation.organization_id) is not None:
        raise Conflict(_l("You are already a member of this organization."))
    membership = Membership(user=user, organization_id=invitation.organization_id,
                            role=invitation.role)
    db.session.add(membership)
    invitation.accepted_at = utcnow()
    db.session.flush()
    db.session.refresh(user)
    audit.record(Actor(user=user, ip=ip), "member.joined", "membership", membership.id,
                 organization_id=invitation.organization_id,
                 data={"email": user.email, "role": membership.role.value,
                       "invitation_id": invitation.id})
    return membership


# --- Members ----------------------------------------------------------------------------

def members_of(actor: Actor, organization: Organization) -> list[Membership]:
    permissions.require(actor.user, "members.view", organization)
    return list(db.session.execute(
        select(Membership).join(User)
        .where(Membership.organization_id == organization.id).order_by(Membership.id)
    ).scalars())


def _member(organization: Organization, membership_id: int) -> Membership:
    membership = db.session.execute(
        select(Membership).where(Membership.id == membership_id,
                                 Membership.organization_id == organization.id)
    ).scalar_one_or_none()
    if membership is None:
        raise NotFound("member", membership_id)
    return membership


def _owners_count(organization: Organization) -> int:
    return db.session.execute(
        select(func.count()).select_from(Membership).where(
            Membership.organization_id == organization.id, Membership.role == MemberRole.OWNER)
    ).scalar_one()


def change_role(actor: Actor, organization: Organization, membership_id: int,
                role: str) -> Membership:
    permissions.require(actor.user, "members.change_role", organization)
    membership = _member(organization, membership_id)
    try:
        new_role = MemberRole(role)
    except ValueError as exc:
        raise ValidationFailed(_l("Unknown role."),
                               {"role": [_l("must be one of owner, admin, member")]}) from exc
    if (membership.role is MemberRole.OWNER and new_role is not MemberRole.OWNER
            and _owners_count(organization) == 1):
        raise Conflict(_l("An organization needs at least one owner."))
    old = membership.role
    membership.role = new_role
    db.session.flush()
    audit.record(actor, "member.role_changed", "membership", membership.id,
                 organization_id=organization.id,
                 data={"from": old.value, "to": new_role.value})
    return membership


def remove_member(actor: Actor, organization: Organization, membership_id: int) -> None:
    permissions.require(actor.user, "members.remove", organization)
    membership = _member(organization, membership_id)
    acting = permissions.membership_of(actor.user, organization.id)
    if membership.role is MemberRole.OWNER:
        if acting.role is not MemberRole.OWNER:
            raise PermissionDenied(_l("Only an owner can remove an owner."))
        if _owners_count(organization) == 1:
            raise Conflict(_l("An organization needs at least one owner."))
    email = membership.user.email
    db.session.delete(membership)
    db.session.flush()
    audit.record(actor, "member.removed", "membership", membership_id,
                 organization_id=organization.id, data={"email": email})


# --- Password reset ---------------------------------------------------------------------

_RESET_SALT = "outletpool.password-reset"


def password_reset_token(user: User, secret_key: str) -> str:
    """Signed, time-limited, and single-use: it embeds a fragment of the current hash."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_RESET_SALT)
    return serializer.dumps({"uid": user.id, "h": _sha256(user.password_hash)[:16]})


def user_for_reset_token(token: str, secret_key: str, max_age: int) -> User:
    serializer = URLSafeTimedSerializer(secret_key, salt=_RESET_SALT)
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise ValidationFailed(_l("This reset link has expired; ask for a new one.")) from exc
    except BadSignature as exc:
        raise ValidationFailed(_l("This reset link is not valid.")) from exc
    user = db.session.get(User, data.get("uid"))
    if user is None or _sha256(user.password_hash)[:16] != data.get("h"):
        raise ValidationFailed(_l("This reset link has already been used."))
    return user


def reset_password(token: str, new_password: str, *, secret_key: str, max_age: int,
                   ip: str | None = None) -> User:
    user = user_for_reset_token(token, secret_key, max_age)
    problems = passwords.problems(new_password or "", min_length=PASSWORD_MIN_LENGTH,
                                  email=user.email)
    if problems:
        raise ValidationFailed(_l("Choose another password."), {"password": problems})
    user.password_hash = passwords.hash_password(new_password)
    db.session.flush()
    audit.record(Actor(user=user, ip=ip), "user.password_reset", "user", user.id)
    return user


# --- Operators --------------------------------------------------------------------------

OPERATOR_ORG = {
    "legal_name": "OutletPool 平台运营",
    "english_name": "OutletPool Platform Operations",
    # A syntactically valid placeholder; deployments set their own through the profile page.
    "credit_code": "91110108MA0000000A",
    "address": "北京市海淀区",
}


def operator_organization() -> Organization:
    """The platform's own organization, created verified on first use."""
    organization = db.session.execute(
        select(Organization).where(Organization.kind == OrgKind.OPERATOR).order_by(Organization.id)
    ).scalars().first()
    if organization is None:
        clean, errors = organizations.check_profile(
            {k: v for k, v in OPERATOR_ORG.items() if k != "credit_code"}, creating=False)
        if errors:
            raise ValidationFailed(_l("Reference data is missing; run load-reference first."), errors)
        organization = Organization(kind=OrgKind.OPERATOR, credit_code=OPERATOR_ORG["credit_code"],
                                    verification_status=VerificationStatus.VERIFIED,
                                    verified_at=utcnow(), **clean)
        db.session.add(organization)
        db.session.flush()
        audit.record(audit.Actor(label="cli"), "organization.created", "organization",
                     organization.id, organization_id=organization.id, data={"kind": "operator"})
    return organization


def create_operator(email: str, password: str, name: str = "Operator") -> User:
    """Create (or promote) an operator account; safe to run again."""
    organization = operator_organization()
    user = find_user_by_email(email)
    if user is None:
        email, errors = _check_new_user(email, password, name)
        if errors:
            raise ValidationFailed(_l("Some fields need correcting."), errors)
        user = _create_user(email, password, name)
    if permissions.membership_of(user, organization.id) is None:
        membership = Membership(user=user, organization=organization, role=MemberRole.OWNER)
        db.session.add(membership)
        db.session.flush()
        db.session.refresh(user)
        audit.record(audit.Actor(label="cli:create-operator"), "member.joined", "membership",
                     membership.id, organization_id=organization.id,
                     data={"email": user.email, "role": "owner"})
    return user
