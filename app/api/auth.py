"""Sign-up, tokens and the caller's own identity."""

from __future__ import annotations

from flask_login import current_user

from app.api.common import BEARER, Blueprint, actor, authenticated
from app.api.schemas import (
    MeSchema,
    NewTokenSchema,
    SignupResultSchema,
    SignupSchema,
    TokenRequestSchema,
    TokenSchema,
)
from app.extensions import db, limiter
from app.security import client_ip, signin_limit, signin_limit_key
from services import accounts

blp = Blueprint("api_auth", __name__, url_prefix="/api/v1", description="Sign-up, tokens, me")


@blp.route("/signup", methods=["POST"])
@blp.arguments(SignupSchema)
@blp.response(201, SignupResultSchema)
@blp.alt_response(422, description="A field is wrong; `fields` says which and why")
def signup(body):
    """Create an organization (pending verification) and its owner."""
    organization, user = accounts.signup(body["organization"], body["user"], ip=client_ip())
    db.session.commit()
    return {"organization_id": organization.id, "user_id": user.id, "organization": organization}


@blp.route("/auth/tokens", methods=["POST"])
@limiter.limit(signin_limit, key_func=signin_limit_key)
@blp.arguments(TokenRequestSchema)
@blp.response(201, NewTokenSchema)
@blp.alt_response(401, description="Wrong e-mail or password")
def create_token(body):
    """Exchange e-mail and password for a personal bearer token (shown once)."""
    user = accounts.authenticate(body["email"], body["password"])
    token, raw = accounts.create_token(user, body.get("name"), ip=client_ip())
    db.session.commit()
    return {"id": token.id, "name": token.name, "prefix": token.prefix,
            "created_at": token.created_at, "token": raw}


@blp.route("/auth/tokens", methods=["GET"])
@blp.doc(security=BEARER)
@blp.response(200, TokenSchema(many=True))
@authenticated
def list_tokens():
    """Your API tokens (never their values)."""
    return accounts.tokens_of(current_user)


@blp.route("/auth/tokens/<int:token_id>", methods=["DELETE"])
@blp.doc(security=BEARER)
@blp.response(204)
@authenticated
def revoke_token(token_id):
    """Revoke one of your tokens; it stops working at once."""
    accounts.revoke_token(current_user, token_id, ip=client_ip())
    db.session.commit()


@blp.route("/me", methods=["GET"])
@blp.doc(security=BEARER)
@blp.response(200, MeSchema)
@authenticated
def me():
    """The caller, with memberships and their organizations."""
    user = actor().user
    return {"user": user, "memberships": user.memberships}
