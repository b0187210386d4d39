"""Demo organizations and one login per role, so a fresh `make run` is usable at once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text

from app.extensions import db
from app.models import (
    ApplicationPurpose,
    ApplicationStatus,
    CertificationApplication,
    CertificationScheme,
    Organization,
    Outlet,
    OutletStatus,
)
from app.models.types import utcnow
from services import accounts, certificates, certifiers, credit_code, organizations
from services.audit import Actor

DEMO_PASSWORD = "outletpool-demo"  # noqa: S105 - printed in the README on purpose


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    organization: str


# (role label, e-mail, organization fields, verified?)
DEMO_ORGANIZATIONS = [
    ("manufacturer", "maker@outletpool.demo", {
        "kind": "manufacturer", "legal_name": "华南新能源汽车有限公司",
        "english_name": "South China NEV Co., Ltd.", "address": "广东省深圳市坪山区比亚迪路1号",
        "contact_name": "李明", "contact_phone": "0755-88880001"}, True),
    ("provider", "provider@outletpool.demo", {
        "kind": "provider", "provider_type": "utilization",
        "legal_name": "绿源电池综合利用有限公司", "english_name": "Lvyuan Battery Recycling Co., Ltd.",
        "address": "湖南省长沙市宁乡市金洲大道88号", "contact_name": "王芳",
        "contact_phone": "0731-86660002"}, True),
    ("certifier", "certifier@outletpool.demo", {
        "kind": "certifier", "legal_name": "中诚认证中心有限公司",
        "english_name": "Zhongcheng Certification Centre Co., Ltd.",
        "address": "北京市朝阳区建国路99号", "contact_name": "赵强",
        "contact_phone": "010-65550003"}, True),
    ("provider (pending)", "pending@outletpool.demo", {
        "kind": "provider", "provider_type": "logistics", "legal_name": "捷运物流仓储有限公司",
        "english_name": "Jieyun Logistics & Warehousing Co., Ltd.",
        "address": "湖北省武汉市东西湖区走马岭街道", "contact_name": "陈静",
        "contact_phone": "027-83330004"}, False),
]
OPERATOR_EMAIL = "operator@outletpool.demo"
DEMO_ACCREDITATION = {"number": "CNAS C999-M", "accrediting_body": "中国合格评定国家认可委员会 (CNAS)",
                      "valid_until": "2030-12-31"}


def demo_credit_code(division_code: str, sequence: int) -> str:
    return credit_code.make(f"91{division_code}{sequence:09d}")


def create_demo_accounts() -> list[DemoLogin]:
    """Idempotent: existing demo accounts are left as they are."""
    operator = accounts.create_operator(OPERATOR_EMAIL, DEMO_PASSWORD, "平台运营 Operator")
    operator_actor = Actor(user=operator, label="demo")
    logins = [DemoLogin("operator", OPERATOR_EMAIL, DEMO_PASSWORD, "OutletPool 平台运营")]
    for sequence, (role, email, org_fields, verified) in enumerate(DEMO_ORGANIZATIONS, start=1):
        existing = db.session.execute(
            select(Organization).where(Organization.legal_name == org_fields["legal_name"])
        ).scalar_one_or_none()
        if existing is None and accounts.find_user_by_email(email) is None:
            resolved = organizations.check_profile({"address": org_fields["address"]},
                                                   creating=False)[0]["division_code"]
            fields = {**org_fields, "credit_code": demo_credit_code(resolved, sequence)}
            organization, user = accounts.signup(
                fields, {"email": email, "password": DEMO_PASSWORD,
                         "name": org_fields["contact_name"]})
            if verified:
                organizations.set_verification(operator_actor, organization.id, "verified")
            if role == "certifier":
                # An accredited certifier, so the demo can run the audit workflow at once.
                certifiers.record_accreditation(Actor(user=user), organization, DEMO_ACCREDITATION)
                certifiers.set_accreditation_verification(operator_actor, organization.id, "verified")
        logins.append(DemoLogin(role, email, DEMO_PASSWORD, org_fields["legal_name"]))
    return logins


def certify_demo_outlets(limit: int = 3) -> list[str]:
    """The demo certifier certifies a few of the demo provider's listed outlets (at most half,
    so some remain to walk through the certification workflow), so the certified mark, the
    public verification page and a certificate PDF can be seen at once. Idempotent."""
    certifier_user = accounts.find_user_by_email("certifier@outletpool.demo")
    provider_user = accounts.find_user_by_email("provider@outletpool.demo")
    scheme = db.session.execute(select(CertificationScheme).where(CertificationScheme.active)
                                .order_by(CertificationScheme.id)).scalars().first()
    if certifier_user is None or provider_user is None or scheme is None:
        return []
    certifier_id = certifier_user.memberships[0].organization_id
    provider_id = provider_user.memberships[0].organization_id
    listed = db.session.execute(
        select(Outlet).where(Outlet.provider_id == provider_id, Outlet.status == OutletStatus.LISTED)
        .order_by(Outlet.id)).unique().scalars().all()
    already = sum(o.certified for o in listed)
    wanted = max(0, min(limit, len(listed) // 2) - already)
    outlets = [o for o in listed if not o.certified][:wanted]
    numbers = []
    today = utcnow().date()
    for outlet in outlets:
        application = CertificationApplication(
            outlet_id=outlet.id, provider_id=provider_id, certifier_id=certifier_id,
            scheme_id=scheme.id, purpose=ApplicationPurpose.INITIAL,
            status=ApplicationStatus.CERTIFIED, audit_date=today, auditor_id=certifier_user.id,
            decided_at=utcnow())
        db.session.add(application)
        db.session.flush()
        numbers.append(certificates.issue(Actor(user=certifier_user, label="demo"), application,
                                          today).number)
    return numbers


def refresh_planner_statistics() -> None:
    """ANALYZE after the demo's bulk load (PostgreSQL): tens of thousands of rows arrive at once,
    and until autovacuum samples them (never, where it is off) the planner works from guesses."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE"))
