"""The authorization matrix's world, built once through the services.

Two mirror-image ecosystems, A and B. Each has a verified manufacturer, site provider and
certifier, every one with an owner and a plain member who hold API tokens, and every kind of
resource a route takes an id of: listed outlets with offers and evidence, a certification
application in audit (with a finding and audit evidence), a certificate, a pending capacity
request, an active co-built agreement (a cost pool, a version, an allocation), its invoice, a
coverage plan, sales, a filing and its joint filing, notifications, spare API tokens, memberships
and a pending invitation, a certifier's declared relationship. Besides: an operator, an
unverified provider and an unverified manufacturer (owners with tokens), and an operator's filing
run. Nothing in A refers to B, so every B id is foreign to every A role.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from tests.integration.conftest import PASSWORD, org_payload
from tests.integration.filing_scenario import make_outlet

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
AS_OF = "2026-12-15"
GENERATE_AT = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)
KINDS = ("manufacturer", "provider", "certifier")


@dataclass
class Person:
    user_id: int
    email: str
    token: str
    membership_id: int
    notification: int | None = None


@dataclass
class Org:
    label: str  # e.g. "A.provider", "unverified.manufacturer", "operator"
    side: str | None  # "A", "B" or None
    kind: str
    id: int
    owner: Person
    member: Person | None = None
    verified: bool = True
    res: dict = field(default_factory=dict)  # resource type -> id (or number / token)


@dataclass
class World:
    orgs: dict  # label -> Org
    scheme_id: int
    run_id: int
    markers: dict  # side -> strings only that side's parties may ever read
    reset_token: str = ""  # a password-reset link's token (public page)

    def org(self, side: str, kind: str) -> Org:
        return self.orgs[f"{side}.{kind}"]


def _actor(user_id):
    from app.extensions import db
    from app.models import User
    from services.audit import Actor

    return Actor(user=db.session.get(User, user_id), ip="198.51.100.7")


def _request_capacity(maker, outlet_id: int, tonnes: int, form: str):
    """The maker asks for capacity at the outlet from 1 December 2026 for a year (committed)."""
    from app.extensions import db
    from app.models import Organization
    from services import capacity_requests

    request = capacity_requests.create(
        _actor(maker.owner.user_id), db.session.get(Organization, maker.id),
        {"outlet_id": outlet_id, "tonnes_per_year": tonnes, "start_date": "2026-12-01",
         "term_months": 12, "form": form},
        now=NOW)
    db.session.commit()
    return request


def jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buffer, "JPEG")
    return buffer.getvalue()


def _org(label, side, kind, sequence, operator_user_id, *, verified=True) -> Org:
    from app.extensions import db
    from app.models import Membership
    from services import accounts, organizations

    payload = org_payload(
        kind,
        sequence=sequence,
        email=f"{label.lower()}.owner@example.com",
        legal_name=f"矩阵{label}{kind}有限公司",
    )
    organization, user = accounts.signup(payload["organization"], payload["user"])
    if verified:
        organizations.set_verification(_actor(operator_user_id), organization.id, "verified")
    owner_membership = db.session.execute(
        db.select(Membership.id).where(Membership.user_id == user.id)
    ).scalar_one()
    owner = Person(user.id, user.email, accounts.create_token(user, "matrix")[1], owner_membership)
    db.session.commit()
    return Org(label, side, kind, organization.id, owner, verified=verified)


def _add_member(org: Org) -> None:
    from app.extensions import db
    from app.models import Organization
    from services import accounts

    organization = db.session.get(Organization, org.id)
    email = f"{org.label.lower()}.member@example.com"
    issued = accounts.invite(_actor(org.owner.user_id), organization, email, "member")
    membership = accounts.accept_invitation(issued.token, name="Member", password=PASSWORD)
    db.session.commit()
    org.member = Person(
        membership.user_id, email, accounts.create_token(membership.user, "matrix")[1], membership.id
    )
    # a spare token of the owner's (a target for revoke), and an invitation still pending
    spare, _raw = accounts.create_token(
        db.session.get(type(membership.user), org.owner.user_id), f"{org.label}-spare-token"
    )
    invitation = accounts.invite(
        _actor(org.owner.user_id), organization, f"{org.label.lower()}.invitee@example.com", "member"
    )
    db.session.commit()
    org.res["token"] = spare.id
    org.res["invitation"] = invitation.token
    org.res["membership"] = membership.id


def build(app) -> World:
    from app.extensions import db
    from app.models import (
        Agreement,
        Certificate,
        CertificationScheme,
        Invoice,
        JointFiling,
        Notification,
    )
    from services import (
        accounts,
        agreements,
        capacity_requests,
        certification,
        certifiers,
        cost_pools,
        coverage_plans,
        evidence,
        filing_runs,
        filings,
        invoices,
        reference_data,
        sales,
    )

    reference_data.load_certification_schemes()
    operator_user = accounts.create_operator("matrix-operator@example.com", PASSWORD, "Op")
    operator_org = accounts.operator_organization()
    db.session.commit()
    from app.models import Membership

    op_membership = db.session.execute(
        db.select(Membership.id).where(Membership.user_id == operator_user.id)
    ).scalar_one()
    operator = Org(
        "operator",
        None,
        "operator",
        operator_org.id,
        Person(
            operator_user.id,
            operator_user.email,
            accounts.create_token(operator_user, "matrix")[1],
            op_membership,
        ),
    )
    db.session.commit()
    orgs = {"operator": operator}
    sequence = 7100
    for side in ("A", "B"):
        for kind in KINDS:
            sequence += 1
            org = _org(f"{side}.{kind}", side, kind, sequence, operator_user.id)
            _add_member(org)
            orgs[org.label] = org
    for kind in ("provider", "manufacturer"):
        sequence += 1
        org = _org(f"unverified.{kind}", None, kind, sequence, operator_user.id, verified=False)
        orgs[org.label] = org
        from app.models import User

        spare, _raw = accounts.create_token(db.session.get(User, org.owner.user_id), f"{org.label}-spare")
        org.res["token"] = spare.id
        db.session.commit()

    unverified = orgs["unverified.provider"]
    draft = make_outlet(
        type("P", (), {"organization_id": unverified.id}), "矩阵未审核网点", "440300", "440305"
    )
    from app.models import Outlet

    db.session.get(Outlet, draft).status = "draft"
    db.session.commit()
    unverified.res["outlet"] = draft

    scheme = (
        db.session.execute(db.select(CertificationScheme).order_by(CertificationScheme.id)).scalars().first()
    )
    upload_root = Path(app.config["UPLOAD_ROOT"])
    markers = {}
    for side in ("A", "B"):
        maker, provider, certifier = (orgs[f"{side}.{k}"] for k in KINDS)
        as_provider = type("P", (), {"organization_id": provider.id})
        contracted = make_outlet(as_provider, f"矩阵{side}共建网点", "440300", "440305")
        requested = make_outlet(as_provider, f"矩阵{side}请求网点", "440300", "440306")
        audited = make_outlet(as_provider, f"矩阵{side}认证网点", "440100", "440106")
        provider.res.update(outlet=contracted, outlet_requested=requested, outlet_audited=audited)
        from app.models import Outlet

        added = evidence.add(
            _actor(provider.owner.user_id),
            db.session.get(Outlet, contracted),
            jpeg(),
            f"matrix-evidence-{side}.jpg",
            storage_root=upload_root,
            max_bytes=10_000_000,
        )
        db.session.commit()
        provider.res["evidence"] = added.id

        # the certifier: accreditation verified, a declared tie, an application in audit
        from app.models import Organization

        certifiers.record_accreditation(
            _actor(certifier.owner.user_id),
            db.session.get(Organization, certifier.id),
            {
                "number": f"CNAS C{side}1-P",
                "accrediting_body": "CNAS",
                "valid_until": (date.today() + timedelta(days=400)).isoformat(),
            },
        )
        db.session.commit()
        certifiers.set_accreditation_verification(_actor(operator_user.id), certifier.id, "verified")
        db.session.commit()
        tie = certifiers.declare_relationship(
            _actor(certifier.owner.user_id),
            db.session.get(Organization, certifier.id),
            {"related_organization_id": maker.id, "nature": f"matrix-tie-{side}"},
        )
        db.session.commit()
        certifier.res["relationship"] = tie.id
        application = certification.apply(
            _actor(provider.owner.user_id),
            {"outlet_id": audited, "scheme_id": scheme.id, "certifier_id": certifier.id},
        )
        db.session.commit()
        certification.accept(_actor(certifier.owner.user_id), application.id)
        db.session.commit()
        certification.schedule_audit(
            _actor(certifier.owner.user_id),
            application.id,
            date.today() + timedelta(days=2),
            certifier.owner.user_id,
        )
        db.session.commit()
        photo = certification.attach_evidence(
            _actor(certifier.owner.user_id),
            application.id,
            jpeg(),
            f"matrix-audit-{side}.jpg",
            storage_root=upload_root,
            max_bytes=10_000_000,
        )
        db.session.commit()
        provider.res["application"] = certifier.res["application"] = application.id
        provider.res["application_evidence"] = certifier.res["application_evidence"] = photo.id
        number = f"OPC-2026-9{'1' if side == 'A' else '2'}0001"
        db.session.add(
            Certificate(
                number=number,
                verification_code=f"matrix-code-{side}",
                outlet_id=contracted,
                scheme_id=scheme.id,
                certifier_id=certifier.id,
                application_id=0,
                scope="collection",
                issued_on=date(2026, 1, 10),
                expires_on=date(2029, 1, 9),
                status="valid",
            )
        )
        db.session.commit()
        provider.res["certificate"] = certifier.res["certificate"] = number

        # contracting: an agreement with a cost pool, signed by both; a pending request
        request = _request_capacity(maker, contracted, 30, "co_built")
        capacity_requests.accept(_actor(provider.owner.user_id), request.id, now=NOW)
        db.session.commit()
        agreement = db.session.execute(
            db.select(Agreement).where(Agreement.outlet_id == contracted)
        ).scalar_one()
        pool = cost_pools.create(
            _actor(provider.owner.user_id),
            agreement.id,
            {
                "name": f"matrix-pool-{side}",
                "kind": "recurring",
                "rule": "capacity",
                "lines": [{"description": "Insurance", "amount_fen": 365_000}],
            },
            now=NOW,
        )
        db.session.commit()
        for party in (maker, provider):
            version = agreements.pending_version(db.session.get(Agreement, agreement.id))
            agreements.sign(
                _actor(party.owner.user_id),
                agreement.id,
                password=PASSWORD,
                document_sha256=version.document_sha256,
                now=NOW,
            )
            db.session.commit()
        agreement = db.session.get(Agreement, agreement.id)
        allocation = agreement.allocations[0]
        for org in (maker, provider):
            org.res.update(agreement=agreement.id, allocation=allocation.id, pool=pool.id)
        pending = _request_capacity(maker, requested, 20, "shared_use")
        maker.res["request"] = provider.res["request"] = pending.id

        # the maker: sales, a coverage plan, a filing (and the co-built agreement's joint filing)
        record = sales.record_one(
            _actor(maker.owner.user_id),
            db.session.get(Organization, maker.id),
            {"division": "440300", "year": 2025, "sales": 300},
        )
        db.session.commit()
        maker.res["sales_record"] = record.id
        plan = coverage_plans.create(
            _actor(maker.owner.user_id), db.session.get(Organization, maker.id), {"as_of": date(2026, 12, 15)}
        )
        db.session.commit()
        maker.res["plan"] = plan.id
        filing = filings.generate(
            _actor(maker.owner.user_id), db.session.get(Organization, maker.id), AS_OF, now=GENERATE_AT
        )
        db.session.commit()
        maker.res["filing"] = filing.id
        joint = db.session.execute(
            db.select(JointFiling.id).where(JointFiling.agreement_id == agreement.id)
        ).scalar_one()
        maker.res["joint"] = provider.res["joint"] = joint
        markers[side] = [
            agreement.number,
            f"matrix-pool-{side}",
            f"matrix-tie-{side}",
            f"matrix-evidence-{side}",
            f"matrix-audit-{side}",
            f"{side}.manufacturer-spare-token",
            f"{side.lower()}.manufacturer.invitee@",
            f"{side.lower()}.provider.member@",
        ]

    invoices.issue_due(datetime(2027, 1, 2, 2, tzinfo=UTC))
    db.session.commit()
    for side in ("A", "B"):
        maker, provider = orgs[f"{side}.manufacturer"], orgs[f"{side}.provider"]
        invoice = db.session.execute(db.select(Invoice).where(Invoice.customer_id == maker.id)).scalar_one()
        maker.res["invoice"] = provider.res["invoice"] = invoice.id
        markers[side].append(invoice.number)

    from services import handling

    for side in ("A", "B"):  # handling records: tonnes a provider handled under an allocation
        maker, provider = orgs[f"{side}.manufacturer"], orgs[f"{side}.provider"]
        record = handling.record(
            _actor(provider.owner.user_id),
            provider.res["allocation"],
            {"handled_on": date(2026, 12, 5), "tonnes": "1.5"},
            now=datetime(2026, 12, 10, 2, tzinfo=UTC),
        )
        db.session.commit()
        maker.res["handling"] = provider.res["handling"] = record.id

    run = filing_runs.start(_actor(operator_user.id), AS_OF, now=GENERATE_AT)
    db.session.commit()
    filing_runs.execute(run.id, db.session.commit, now=lambda: GENERATE_AT)
    operator.res["run"] = run.id

    for org in orgs.values():
        for person in (org.owner, org.member):
            if person is None:
                continue
            note = Notification(
                user_id=person.user_id, organization_id=org.id, event="matrix", params={}, link=None
            )
            db.session.add(note)
            db.session.flush()
            person.notification = note.id
    db.session.commit()
    return World(orgs, scheme.id, run.id, markers)
