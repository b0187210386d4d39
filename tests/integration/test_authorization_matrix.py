"""The authorization matrix: every route of the web app and the API, for every role, against a
resource of the role's own organization and one of another organization.

Routes come from the URL map and the OpenAPI document; a route missing from ROUTES fails the
test, so a new route cannot escape the matrix. Each entry says who may use the route and which
resource its path parameters name (filled from A's world for "own" and from B's for "other").

What is checked:
- anonymous: a page that needs sign-in redirects to /login; the API answers 401 with the error
  envelope;
- another organization's resource: 403 or 404 for reads and writes alike (API and pages), and
  a write changes nothing (row counts of every table, read marks, revocations, roles and
  verifications compared around it); two-id routes are also tried with the role's own parent
  and the other organization's child. The few web forms that are validated before the id is
  looked up are listed in WEB_FORM_FIRST;
- own resources: reads succeed; writes of a role allowed to make them are not sent (the flow
  tests own them); writes refused to a member (manager actions) or to an unverified
  organization (marketplace actions) are sent and must be refused (API: 403, or 409 where the
  state is checked first) and change nothing; a refused web form may answer with a redirect
  and a message or the form again, never 2xx;
- no answer to an A role shows one of B's markers (agreement and invoice numbers, cost pool,
  evidence and token names, a declared tie, e-mails), whatever its status;
- nothing answers 500.
The world is built once for the module: `_clean_database` is overridden here to run after the
last test instead of after each one.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

import pytest

from tests.conftest import REFERENCE_TABLES, csrf_token_from, truncate_all
from tests.integration import authz_world
from tests.integration.conftest import PASSWORD

GET = "GET"
REFUSED = frozenset({403, 404})
NOT_VERIFIED = frozenset({403, 409})


@dataclass(frozen=True)
class Rule:
    """Who may use a route.

    access: "public" (anyone, signed in or not), "login" (anyone signed in, about their own
    account or organization, no foreign id), "operator" (operators only), "org" (the signed-in
    organization's own data, no id in the path: the kinds in `kinds` may), "res" (a resource
    of type `res`, held by organizations of the kinds in `kinds`), "skip" (not exercised; `why`).
    manage: owners and admins only; verified: a verified organization only.
    operator: what an operator gets on "org"/"res" routes: "deny" (403/404) or "allow".
    body: the JSON (API) or form (web) sent with a write: valid enough that only the
    authorization decides.
    """

    access: str
    kinds: tuple = ()
    res: str | None = None
    manage: bool = False
    verified: bool = False
    operator: str = "deny"
    body: dict | None = None
    why: str = ""
    member_get: int | None = None  # a member's GET of its own resource, when not 200
    refused: frozenset | set = frozenset({403})  # what a member gets for a manager's action
    query: str = ""  # appended to the path


POOL = {
    "name": "x",
    "kind": "recurring",
    "rule": "capacity",
    "lines": [{"description": "x", "amount_fen": 100}],
}
SIGNATURE = {"password": PASSWORD, "document_sha256": "0" * 64}
FILE = {"__file__": "file"}


def public(**kw):
    return Rule("public", **kw)


def login(**kw):
    return Rule("login", **kw)


def operator_only(**kw):
    return Rule("operator", **kw)


def org(*kinds, **kw):
    return Rule("org", kinds=kinds, **kw)


def res(res_type, *kinds, **kw):
    return Rule("res", kinds=kinds, res=res_type, **kw)


def skip(why):
    return Rule("skip", why=why)


M, P, C = "manufacturer", "provider", "certifier"
ANY = (M, P, C)
MP, PC = (M, P), (P, C)

# --- the table: "<METHOD> <endpoint>" -> Rule -----------------------------------------------

ROUTES: dict[str, Rule] = {
    # public pages and reference data
    "GET main.index": public(),
    "GET main.healthz": public(),
    "GET main.set_language": public(res="language"),
    "GET static": public(res="static"),
    "GET auth.login": public(),
    "POST auth.login": skip("signing in"),
    "GET auth.signup": public(),
    "POST auth.signup": skip("creates an organization: the sign-up tests"),
    "GET auth.forgot_password": public(),
    "POST auth.forgot_password": skip("mails a reset link"),
    "GET auth.reset_password": public(res="reset"),
    "POST auth.reset_password": skip("resets a password"),
    "GET auth.accept_invitation": public(res="invitation"),
    "POST auth.accept_invitation": skip("the invitee's own acceptance (members tests)"),
    "GET pool.search": public(),
    "GET pool.detail": public(res="outlet"),
    "GET stats.national": public(),
    "GET certificates.verify_form": public(),
    "GET certificates.verify": public(res="certificate"),
    "GET filings.public_list": public(res="disclosure"),
    "POST webhooks.stripe_webhook": skip("signature-checked webhook: the Stripe tests"),
    "GET api-docs.openapi_json": public(),
    "GET api_docs.docs": public(),
    "GET reference.get_checklist": public(),
    "GET reference.list_divisions": public(),
    "GET reference.get_division": public(res="division"),
    "GET reference.resolve_division": skip("needs a query string; reference data, public"),
    "GET reference.list_regions": public(),
    "GET reference.list_rule_sets": public(),
    "GET reference.get_rule_set": public(res="rule_set"),
    "GET api_pool.search_outlets": public(),
    "GET api_pool.get_outlet": public(res="outlet"),
    "GET api_pool.export_outlets": public(),
    "GET api_pool.map_points": public(),
    "GET api_stats.national": public(),
    "GET api_filings.public_disclosure": public(),
    "GET api_certificates.verify": public(res="certificate"),
    "GET api_certificates.download_pdf": public(res="certificate", query="code={code}"),
    "GET api_certification.list_certifiers": public(),
    "GET api_certification.list_schemes": public(),
    "GET api_certification.get_scheme": public(res="scheme"),
    "GET api_imports.import_template": public(),
    "POST api_auth.signup": skip("creates an organization: the sign-up tests"),
    "POST api_auth.create_token": skip("password sign-in: the token tests"),
    # anyone signed in, about their own account / current organization
    "GET main.dashboard": login(),
    "POST main.switch_organization": res("org", *ANY, operator="allow"),
    "POST auth.logout": skip("ends the session the matrix uses"),
    "GET notifications.inbox": login(),
    "POST notifications.read_all": login(),
    "POST notifications.read": res("notification", *ANY, operator="allow"),
    "GET api_auth.me": login(),
    "GET api_auth.list_tokens": login(),
    "GET api_notifications.list_notifications": login(),
    "POST api_notifications.mark_all_read": login(),
    "POST api_notifications.mark_read": res("notification", *ANY, operator="allow"),
    "DELETE api_auth.revoke_token": res("token", *ANY, operator="allow"),
    "GET org.profile": login(),
    "POST org.profile": org(*ANY, manage=True, operator="allow", body={"legal_name": "改名有限公司"}),
    "GET org.members": login(),
    "POST org.members": org(
        *ANY, manage=True, operator="allow", body={"email": "x@example.com", "role": "member"}
    ),
    "POST org.change_role": res("membership", *ANY, manage=True, operator="allow", body={"role": "admin"}),
    "POST org.remove_member": res("membership", *ANY, manage=True, operator="allow"),
    "GET org.tokens": login(),
    "POST org.tokens": login(body={"name": "t"}),
    "POST org.revoke_token": res("token", *ANY, operator="allow"),
    "GET api_organizations.list_organizations": login(),
    "GET api_organizations.get_organization": res("org", *ANY, operator="allow"),
    "PATCH api_organizations.update_organization": res(
        "org", *ANY, manage=True, operator="allow", body={"legal_name": "改名有限公司"}
    ),
    "GET api_organizations.list_members": res("org", *ANY),
    "GET api_organizations.list_invitations": res("org", *ANY, manage=True),
    "POST api_organizations.invite_member": res(
        "org", *ANY, manage=True, operator="allow", body={"email": "x@example.com", "role": "member"}
    ),
    "PATCH api_organizations.change_member_role": res(
        "org_membership", *ANY, manage=True, operator="allow", body={"role": "admin"}
    ),
    "DELETE api_organizations.remove_member": res("org_membership", *ANY, manage=True, operator="allow"),
    # operator
    "GET operator.verification_queue": operator_only(),
    "GET operator.audit_log": operator_only(),
    "GET operator.review": operator_only(res="org"),
    "POST operator.review": operator_only(res="org", body={"status": "rejected", "note": "x"}),
    "POST api_organizations.set_verification": operator_only(res="org", body={"status": "rejected"}),
    "GET api_audit.list_events": operator_only(),
    "GET certification.accreditation_queue": operator_only(),
    "POST certification.decide_accreditation": operator_only(
        res="certifier_org", body={"status": "rejected"}
    ),
    "GET api_certification.accreditation_queue": operator_only(),
    "POST api_certification.verify_accreditation": operator_only(
        res="certifier_org", body={"status": "rejected"}
    ),
    "GET certification.schemes": operator_only(),
    "GET certification.scheme_form": operator_only(res="scheme_or_new"),
    "POST certification.scheme_form": operator_only(res="scheme_or_new", body={"code": "X"}),
    "POST api_certification.create_scheme": operator_only(body={"code": "X"}),
    "PATCH api_certification.update_scheme": operator_only(res="scheme", body={"name_en": "X"}),
    "GET cobuilding.group_page": operator_only(),
    "POST cobuilding.group_page": operator_only(body={}),
    "POST api_cobuilding.group_saving": operator_only(body={"manufacturer_ids": ["{A_maker}", "{B_maker}"]}),
    "GET filings.operator_runs": operator_only(),
    "POST filings.operator_runs": operator_only(body={}),
    "GET filings.operator_run": operator_only(res="run"),
    "GET filings.operator_archive": operator_only(res="run"),
    "POST api_filings.start_run": operator_only(body={}),
    "GET api_filings.get_run": operator_only(res="run"),
    "GET api_filings.run_archive": operator_only(res="run"),
}


def _add(rules: dict[str, Rule]) -> None:
    for key, rule in rules.items():
        assert key not in ROUTES, key
        ROUTES[key] = rule


_add(
    {
        # outlets (the provider's)
        "GET outlets.mine": org(P),
        "GET outlets.create": org(P),
        "POST outlets.create": org(P, body={}),
        "GET imports.import_outlets": org(P, operator="allow"),
        "POST imports.import_outlets": org(P, body={}, operator="allow"),
        "GET outlets.manage": res("outlet", P, operator="allow"),
        "POST outlets.manage": res("outlet", P, body={}, operator="allow"),
        "GET outlets.edit": res("outlet", P),
        "POST outlets.edit": res("outlet", P, body={"name": "x"}),
        "GET outlets.assessment": res("outlet", P),
        "POST outlets.assessment": res("outlet", P, body={}),
        "POST outlets.upload_evidence": res("outlet", P, body={}),
        "POST outlets.change_status": res("outlet", P, verified=True, body={"status": "listed"}),
        "GET outlets.download_evidence": res("evidence", P, operator="allow"),
        "GET api_outlets.list_own": res("org", P),
        "POST api_outlets.create": res("org", P, body={}),
        "PATCH api_outlets.update": res("outlet", P, body={"name": "x"}),
        "PUT api_outlets.save_assessment": res("outlet", P, body={"answers": {}, "complete": False}),
        "GET api_outlets.assessment_history": res("outlet", P, operator="allow"),
        "GET api_outlets.list_evidence": res("outlet", P, operator="allow"),
        "POST api_outlets.upload_evidence": res("outlet", P, body=FILE),
        "GET api_outlets.gaps": res("outlet", P, operator="allow"),
        "PUT api_outlets.set_offer": res(
            "outlet",
            P,
            body={
                "capacity_t_per_year": 10,
                "annual_fee_fen": 100,
                "handling_fee_fen_per_t": 100,
                "min_term_months": 12,
                "available_from": "2026-12-01",
            },
        ),
        "POST api_outlets.change_status": res("outlet", P, verified=True, body={"status": "listed"}),
        "GET api_outlets.download_evidence": res("evidence", P, operator="allow"),
        "POST api_imports.import_outlets": org(P, body=FILE, operator="allow"),
        # certification
        "GET certification.index": login(),
        "GET certification.detail": res("application", *PC),
        "POST certification.with_reason": res("application", *PC, body={"reason-reason": "x"}),
        "POST certification.accept": res("application", C),
        "POST certification.schedule": res(
            "application", C, body={"schedule-audit_date": "2026-12-30", "schedule-auditor_id": "1"}
        ),
        "POST certification.certify": res("application", C, body={"reason-reason": "x"}),
        "POST certification.complete_audit": res("application", C),
        "GET certification.evidence_file": res("app_evidence", *PC),
        "POST certification.record_findings": res("application", C, body={}),
        "POST certification.respond": res("application", P, body={"r1-corrective_action": "x"}),
        "POST certification.verify_finding": res("application", C, body={"verify-outcome": "close"}),
        "GET certification.apply": res("outlet", P),
        "POST certification.apply": res("outlet", P, body={}),
        "GET certification.accreditation": org(C),
        "POST certification.accreditation": org(
            C,
            manage=True,
            body={"number": "CNAS C9", "accrediting_body": "CNAS", "valid_until": "2028-01-01"},
        ),
        "GET certification.relationships": org(C),
        "POST certification.relationships": org(C, manage=True, body={"nature": "x"}),
        "POST certification.remove_relationship": res("relationship", C, manage=True),
        "GET api_certification.list_applications": login(),
        "POST api_certification.apply": org(P, body={"outlet_id": "{B_outlet}"}),
        "GET api_certification.get_application": res("application", *PC),
        "POST api_certification.accept": res("application", C),
        "POST api_certification.schedule_audit": res(
            "application", C, body={"audit_date": "2026-12-30", "auditor_id": 1}
        ),
        "POST api_certification.complete_audit": res("application", C),
        "POST api_certification.decide": res("application", C, body={"decision": "refuse", "reason": "x"}),
        "POST api_certification.decline": res("application", C, body={"reason": "x"}),
        "POST api_certification.upload_evidence": res("application", *PC, body=FILE),
        "GET api_certification.download_evidence": res("app_evidence", *PC),
        "PUT api_certification.record_findings": res("application", C, body={"findings": []}),
        "PUT api_certification.record_finding": res("application", C, body={"grade": "conforms"}),
        "POST api_certification.respond": res("application", P, body={"corrective_action": "x"}),
        "POST api_certification.verify_finding": res("application", C, body={"outcome": "close"}),
        "GET api_certification.application_history": res("application", *PC),
        "POST api_certification.withdraw": res("application", P, body={"reason": "x"}),
        "GET api_certification.get_accreditation": res("certifier_org", C, operator="allow"),
        "PUT api_certification.put_accreditation": res(
            "certifier_org",
            C,
            manage=True,
            body={"number": "CNAS C9", "accrediting_body": "CNAS", "valid_until": "2028-01-01"},
        ),
        "GET api_certification.list_relationships": res("certifier_org", C),
        "POST api_certification.declare_relationship": res(
            "certifier_org", C, manage=True, body={"nature": "x"}
        ),
        "DELETE api_certification.remove_relationship": res("org_relationship", C, manage=True),
        # certificates
        "GET certificates.index": login(),
        "GET certificates.detail": res("certificate", *PC, operator="allow"),
        "GET certificates.pdf": public(res="certificate", query="code={code}"),
        "POST certificates.suspend": res("certificate", C, body={"suspend-reason": "x"}),
        "POST certificates.withdraw": res("certificate", C, body={"withdraw-reason": "x"}),
        "GET api_certificates.list_for_organization": res("org", *PC),
        "POST api_certificates.suspend": res("certificate", C, body={"reason": "x"}),
        "POST api_certificates.withdraw": res("certificate", C, body={"reason": "x"}),
    }
)

_add(
    {
        # manufacturer's own data
        "GET obligations.obligations_page": org(M),
        "GET obligations.sales_page": org(M),
        "POST obligations.sales_page": org(
            M,
            manage=True,
            body={"entry-division": "440300", "entry-year": "2025", "entry-sales": "5", "entry-submit": "y"},
        ),
        "POST obligations.delete_record": res("sales_record", M, manage=True),
        "GET api_manufacturers.get_obligations": org(M),
        "GET api_manufacturers.export_obligations": org(M),
        "GET api_manufacturers.list_sales": org(M),
        "PUT api_manufacturers.put_sales": org(
            M, manage=True, body={"records": [{"division": "440300", "year": 2025, "sales": 1}]}
        ),
        "GET api_manufacturers.sales_template": public(),  # the empty CSV layout
        "GET coverage_plans.index": org(M),
        "POST coverage_plans.index": org(M, body={}),
        "GET coverage_plans.detail": res("plan", M),
        "GET coverage_plans.compare": res("plan_pair", M),
        "POST api_coverage_plans.create_plan": org(M, body={}),
        "GET api_coverage_plans.list_plans": org(M),
        "GET api_coverage_plans.get_plan": res("plan", M),
        "GET cobuilding.saving_page": org(M),
        "POST cobuilding.opt_in": org(M, manage=True, body={}),
        "PUT api_cobuilding.set_opt_in": org(M, manage=True, body={"opt_in": True}),
        "GET api_cobuilding.my_saving": org(M),
        # contracting
        "GET contracts.requests": org(*MP, operator="allow"),
        "GET contracts.request_detail": res("request", *MP, operator="allow"),
        "POST contracts.accept": res("request", *MP),
        "POST contracts.with_reason": res("request", *MP, operator="allow", body={"reason-reason": "x"}),
        "POST contracts.counter": res("request", P, body={"counter-tonnes_per_year": "5"}),
        "GET contracts.new_request": org(M, res="outlet_for_maker"),
        "POST contracts.new_request": org(
            M,
            res="outlet_for_maker",
            verified=True,
            body={
                "tonnes_per_year": "5",
                "start_date": "2026-12-20",
                "term_months": "12",
                "form": "shared_use",
            },
        ),
        "POST contracts.from_plan": res("plan", M, verified=True),
        "GET contracts.agreements": login(),
        "GET contracts.agreement_detail": res("agreement", *MP, operator="allow"),
        "GET contracts.version": res("agreement_version", *MP, operator="allow"),
        "GET contracts.version_pdf": res("agreement_version", *MP, operator="allow"),
        "POST contracts.sign": res(
            "agreement", *MP, manage=True, body={"sign-password": PASSWORD, "sign-document_sha256": "0" * 64}
        ),
        "POST contracts.terminate": res("agreement", *MP, operator="allow", body={"terminate-reason": "x"}),
        "POST contracts.give_notice": res("agreement_allocation", *MP, body={"notice-reason": "x"}),
        "POST contracts.renew": res("agreement_allocation", *MP, body={}),
        "GET api_contracts.list_requests": login(),
        "POST api_contracts.create_request": org(
            M,
            verified=True,
            body={
                "outlet_id": "{B_outlet}",
                "tonnes_per_year": 5,
                "start_date": "2026-12-20",
                "term_months": 12,
            },
        ),
        "GET api_contracts.get_request": res("request", *MP, operator="allow"),
        "POST api_contracts.accept_request": res("request", P),
        "POST api_contracts.accept_counter": res("request", M),
        "POST api_contracts.cancel_request": res("request", *MP, body={"reason": "x"}, operator="allow"),
        "POST api_contracts.counter_request": res("request", P, body={"tonnes_per_year": 10}),
        "POST api_contracts.decline_request": res("request", P, body={"reason": "x"}),
        "POST api_contracts.withdraw_request": res("request", M, body={"reason": "x"}),
        "POST api_contracts.requests_from_plan": res("plan", M, verified=True, body={}),
        "GET api_contracts.list_agreements": login(),
        "GET api_contracts.get_agreement": res("agreement", *MP, operator="allow"),
        "GET api_contracts.get_version": res("agreement_version", *MP, operator="allow"),
        "GET api_contracts.version_pdf": res("agreement_version", *MP, operator="allow"),
        "POST api_contracts.sign": res("agreement", *MP, manage=True, body=SIGNATURE, refused={403, 409}),
        "POST api_contracts.terminate": res("agreement", *MP, body={"reason": "x"}, operator="allow"),
        "POST api_contracts.give_notice": res("allocation", *MP, body={"reason": "x"}),
        "POST api_contracts.propose_renewal": res("allocation", *MP, body={}),
        # billing
        "GET billing.invoice_list": login(),
        "GET billing.invoice_detail": res("invoice", *MP, operator="allow"),
        "GET billing.invoice_pdf_download": res("invoice", *MP, operator="allow"),
        "POST billing.record_transfer": res(
            "invoice",
            P,
            manage=True,
            operator="allow",
            body={"transfer-amount_yuan": "1", "transfer-received_on": "2026-11-20"},
        ),
        "POST billing.pay_by_card": res("invoice", M),
        "POST billing.credit": operator_only(
            res="invoice", body={"credit-amount_yuan": "1", "credit-reason": "x"}
        ),
        "POST billing.write_off": operator_only(res="invoice", body={"writeoff-reason": "x"}),
        "POST billing.refund": operator_only(
            res="invoice", body={"refund-amount_yuan": "1", "refund-reason": "x"}
        ),
        "GET billing.statement": org(*MP, operator="allow"),
        "GET billing.bank_account": org(P),
        "POST billing.bank_account": org(P, manage=True, body={}),
        "GET billing.import_statement": org(P, operator="allow"),
        "POST billing.import_statement": org(P, manage=True, body={}, operator="allow"),
        "POST billing.stripe_onboarding": org(P, manage=True),
        "POST billing.set_period": res("agreement", *MP, manage=True, body={"period-period": "quarterly"}),
        "POST billing.create_pool": res("agreement", *MP, manage=True, body={}),
        "POST billing.update_pool": res("agreement_pool", *MP, manage=True, body={}),
        "POST billing.delete_pool": res("agreement_pool", *MP, manage=True),
        "PUT api_billing.set_period": res("agreement", *MP, manage=True, body={"period": "quarterly"}),
        "GET api_billing.list_pools": res("agreement", *MP, operator="allow"),
        "POST api_billing.create_pool": res("agreement", *MP, manage=True, body=POOL),
        "PATCH api_billing.update_pool": res("agreement_pool", *MP, manage=True, body=POOL),
        "DELETE api_billing.delete_pool": res("agreement_pool", *MP, manage=True),
        "GET api_billing.list_invoices": login(),
        "GET api_billing.get_invoice": res("invoice", *MP, operator="allow"),
        "GET api_billing.invoice_as_pdf": res("invoice", *MP, operator="allow"),
        "POST api_billing.credit": operator_only(res="invoice", body={"amount_fen": 1, "reason": "x"}),
        "POST api_billing.pay": res("invoice", M, body={}, operator="allow"),
        "POST api_billing.record_transfer": res(
            "invoice", P, manage=True, body={"amount_fen": 1, "received_on": "2026-11-20"}, operator="allow"
        ),
        "POST api_billing.write_off": operator_only(res="invoice", body={"reason": "x"}),
        "PUT api_billing.set_bank_account": res(
            "org",
            P,
            manage=True,
            body={"bank_name": "x", "account_name": "x", "account_number": "6222000011112222"},
        ),
        "POST api_billing.import_statement": res("org", P, manage=True, body={}, operator="allow"),
        "GET api_billing.statement": res("org", *MP, operator="allow"),
        # filings
        "GET filings.index": org(M),
        "POST filings.index": org(M, body={}),
        "GET filings.detail": res("filing", M, operator="allow"),
        "POST filings.detail": res("filing", M, body={"submitted_on": "2026-12-16", "reference": "x"}),
        "GET filings.download": res("filing", M, operator="allow"),
        "GET filings.joint_index": login(),
        "GET filings.joint_detail": res("joint", *MP, operator="allow"),
        "POST filings.joint_detail": res("joint", *MP, manage=True, body={"password": PASSWORD}),
        "GET api_filings.list_filings": login(),
        "POST api_filings.generate": org(M, body={}),
        "GET api_filings.get_filing": res("filing", M, operator="allow"),
        "GET api_filings.changes": res("filing", M, operator="allow"),
        "GET api_filings.get_snapshot": res("filing", M, operator="allow"),
        "POST api_filings.submit": res("filing", M, body={"submitted_on": "2026-12-16", "reference": "x"}),
        "GET api_filings.list_joint": login(),
        "GET api_filings.get_joint": res("joint", *MP, operator="allow"),
        "POST api_filings.confirm_joint": res("joint", *MP, manage=True, body=SIGNATURE),
        # handling records: the provider records tonnes handled under an allocation, the maker disputes
        "GET handling.page": res("allocation", *MP, operator="allow"),
        "POST handling.record": res(
            "allocation", P, body={"handling-handled_on": "2026-12-05", "handling-tonnes": "1"}
        ),
        "POST handling.correct": res("allocation_handling", P, body={"fix{record_id}-tonnes": "2"}),
        "POST handling.withdraw": res("allocation_handling", P, body={"withdraw-reason": "x"}),
        "POST handling.dispute": res(
            "allocation_handling", M, manage=True, body={"dispute{record_id}-reason": "x"}
        ),
        "GET api_handling.list_records": res("allocation", *MP, operator="allow"),
        "POST api_handling.create_record": res(
            "allocation", P, body={"handled_on": "2026-12-05", "tonnes": 1}
        ),
        "GET api_handling.get_record": res("handling", *MP, operator="allow"),
        "POST api_handling.dispute": res("handling", M, manage=True, body={"reason": "x"}),
        "POST api_handling.withdraw": res("handling", P, body={"reason": "x"}),
        "POST api_handling.correct": res("handling", P, body={"tonnes": 2}),
    }
)


# --- path parameters ------------------------------------------------------------------------

# which organization kind holds each resource type (the "other" organization is B's of that kind)
HOLDER = {
    "outlet": P,
    "outlet_for_maker": P,
    "evidence": P,
    "application": P,
    "app_evidence": P,
    "certificate": P,
    "request": M,
    "agreement": M,
    "agreement_version": M,
    "allocation": M,
    "agreement_allocation": M,
    "agreement_pool": M,
    "allocation_handling": M,
    "plan": M,
    "plan_pair": M,
    "invoice": M,
    "filing": M,
    "joint": M,
    "sales_record": M,
    "handling": M,
    "relationship": C,
    "org_relationship": C,
    "certifier_org": C,
}
# Resources reached through a parent in the path: also tried with one's own parent and another
# organization's child, so a route cannot check the parent and trust the child.
TWO_LEVEL = frozenset({"plan_pair", "agreement_allocation", "allocation_handling", "agreement_pool",
                       "app_evidence", "org_membership", "org_relationship"})


def fill(world, res_type: str, holder, person, child_holder=None) -> dict | None:
    """Path values naming `holder`'s resource of `res_type` (a child from `child_holder`)."""
    child_holder = child_holder or holder
    r = holder.res if holder is not None else {}
    c = child_holder.res if child_holder is not None else {}
    simple = {
        "outlet": lambda: {"outlet_id": r["outlet"]},
        "outlet_for_maker": lambda: {"outlet_id": r["outlet"]},
        "evidence": lambda: {"evidence_id": r["evidence"]},
        "application": lambda: {"application_id": r["application"], "item": 1, "item_number": 1},
        "app_evidence": lambda: {
            "application_id": r["application"],
            "evidence_id": c["application_evidence"],
        },
        "certificate": lambda: {"number": r["certificate"]},
        "request": lambda: {"request_id": r["request"]},
        "agreement": lambda: {"agreement_id": r["agreement"]},
        "agreement_version": lambda: {"agreement_id": r["agreement"], "number": 1},
        "allocation": lambda: {"allocation_id": r["allocation"]},
        "agreement_allocation": lambda: {"agreement_id": r["agreement"], "allocation_id": c["allocation"]},
        "agreement_pool": lambda: {"agreement_id": r["agreement"], "pool_id": c["pool"]},
        "plan": lambda: {"plan_id": r["plan"]},
        "plan_pair": lambda: {"a": r["plan"], "b": c["plan"]},  # the query string
        "invoice": lambda: {"invoice_id": r["invoice"]},
        "filing": lambda: {"filing_id": r["filing"], "fmt": "xlsx"},
        "joint": lambda: {"joint_id": r["joint"]},
        "sales_record": lambda: {"record_id": r["sales_record"]},
        "handling": lambda: {"record_id": r["handling"]},
        "allocation_handling": lambda: {"allocation_id": r["allocation"], "record_id": c["handling"]},
        "relationship": lambda: {"relationship_id": r["relationship"]},
        "org_relationship": lambda: {"organization_id": holder.id, "relationship_id": c["relationship"]},
        "org": lambda: {"organization_id": holder.id},
        "certifier_org": lambda: {"organization_id": holder.id},
        "org_membership": lambda: {
            "organization_id": holder.id,
            "membership_id": (c.get("membership") if child_holder is not holder else person.membership_id),
        },
        "membership": lambda: {"membership_id": c.get("membership") or person.membership_id},
        "token": lambda: {"token_id": r["token"]},
        "notification": lambda: {"notification_id": person.notification},
        "run": lambda: {"run_id": world.run_id},
        "scheme": lambda: {"scheme_id": world.scheme_id},
        "invitation": lambda: {"token": r["invitation"]},
        "reset": lambda: {"token": world.reset_token},
        "division": lambda: {"code": "440300"},
        "rule_set": lambda: {"code": "guidelines-2019"},
        "disclosure": lambda: {"fmt": "csv"},
        "static": lambda: {"filename": "css/app.css"},
        "language": lambda: {"code": "en"},
    }
    try:
        return simple[res_type]()
    except KeyError:
        return None


# --- roles ----------------------------------------------------------------------------------


@dataclass
class Role:
    name: str
    org: object | None = None  # authz_world.Org
    person: object | None = None  # authz_world.Person
    owner: bool = False

    @property
    def anonymous(self) -> bool:
        return self.org is None

    @property
    def operator(self) -> bool:
        return self.org is not None and self.org.kind == "operator"

    @property
    def kind(self) -> str | None:
        return self.org.kind if self.org else None


PUBLIC_ROLES = {
    "anonymous",
    "operator",
    "A.manufacturer.owner",
    "A.provider.member",
    "A.certifier.owner",
    "unverified.provider.owner",
}


def roles_of(world) -> list[Role]:
    roles = [Role("anonymous"), Role("operator", world.orgs["operator"], world.orgs["operator"].owner, True)]
    for kind in authz_world.KINDS:
        o = world.org("A", kind)
        roles += [Role(f"A.{kind}.owner", o, o.owner, True), Role(f"A.{kind}.member", o, o.member, False)]
    for kind in ("provider", "manufacturer"):
        o = world.orgs[f"unverified.{kind}"]
        roles.append(Role(f"unverified.{kind}.owner", o, o.owner, True))
    return roles


# --- enumeration ----------------------------------------------------------------------------

ANY_RE = re.compile(r"<any\(([^)]*)\):(\w+)>")


def concrete_rules(app):
    """(method, endpoint, rule string, variant dict) for every route: `any(...)` converters
    give one entry per option; HEAD and OPTIONS are left to Werkzeug."""
    for rule in app.url_map.iter_rules():
        options = [{}]
        match = ANY_RE.search(rule.rule)
        if match:
            values = [v.strip().strip("'\"") for v in match.group(1).split(",")]
            options = [{match.group(2): v} for v in values]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for variant in options:
                yield method, rule.endpoint, rule, variant


def openapi_operations(client) -> list[tuple[str, str]]:
    document = client.get("/api/v1/openapi.json").get_json()
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    ]


def rule_template(rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


# --- the world, once for the module ---------------------------------------------------------


@pytest.fixture(autouse=True)
def _clean_database():
    """Overrides the suite's per-test cleanup: the world lives for the whole module."""
    yield


@pytest.fixture(scope="module")
def world(app):
    with app.app_context():
        built = authz_world.build(app)
        from app.extensions import db
        from app.models import User
        from services import accounts

        user = db.session.get(User, built.org("A", "manufacturer").owner.user_id)
        built.reset_token = accounts.password_reset_token(user, app.config["SECRET_KEY"])
    yield built
    truncate_all(app)


def fingerprint(app) -> tuple:
    """Row counts of every table, plus the marks a write leaves without adding a row."""
    from app.extensions import db

    with app.app_context():
        tables = [t.name for t in db.metadata.sorted_tables if t.name not in REFERENCE_TABLES]
        parts = [f'(SELECT COUNT(*) FROM "{name}")' for name in tables]  # noqa: S608 (our table names)
        parts += [
            "(SELECT COUNT(*) FROM notifications WHERE read_at IS NOT NULL)",
            "(SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NOT NULL)",
            "(SELECT COUNT(*) FROM memberships WHERE role = 'member')",
            "(SELECT COUNT(*) FROM organizations WHERE verification_status = 'verified')",
        ]
        row = db.session.execute(db.text("SELECT " + ", ".join(parts))).one()
        db.session.remove()
        return tuple(row)


# --- sessions -------------------------------------------------------------------------------


class Sessions:
    """One browser (cookie jar + CSRF token) per role; API calls carry the role's token."""

    def __init__(self, app):
        self.app = app
        self.clients: dict[str, tuple] = {}

    def web(self, role: Role):
        if role.name not in self.clients:
            client = self.app.test_client()
            page = client.get("/login")
            if not role.anonymous:
                signed = client.post(
                    "/login",
                    data={
                        "email": role.person.email,
                        "password": PASSWORD,
                        "csrf_token": csrf_token_from(page.get_data(as_text=True)),
                    },
                )
                assert signed.status_code == 302, (role.name, signed.status_code)
                page = client.get("/organization")
            self.clients[role.name] = (client, csrf_token_from(page.get_data(as_text=True)))
        return self.clients[role.name]


# --- one request ----------------------------------------------------------------------------


@dataclass
class Case:
    role: Role
    method: str
    endpoint: str
    path: str
    target: str  # "own", "other", "mixed", "none"
    expect: frozenset | str  # statuses, or "ok" (2xx), or "public"
    body: dict | None = None
    api: bool = False
    check_unchanged: bool = False
    result: dict = field(default_factory=dict)


def send(sessions: Sessions, case: Case):
    role = case.role
    if case.api:
        client = sessions.app.test_client()
        headers = {"Accept-Language": "en"}
        if not role.anonymous:
            headers["Authorization"] = f"Bearer {role.person.token}"
        kwargs = {"headers": headers}
        if case.method != GET and case.body and "__file__" in case.body:
            kwargs["data"] = {case.body["__file__"]: (io.BytesIO(authz_world.jpeg()), "matrix.jpg")}
        elif case.method != GET:
            kwargs["json"] = case.body or {}
        return client.open(case.path, method=case.method, **kwargs)
    client, token = sessions.web(role)
    if case.method == GET:
        return client.get(case.path)
    data = {**(case.body or {}), "csrf_token": token}
    if "__file__" in data:
        data[data.pop("__file__")] = (io.BytesIO(authz_world.jpeg()), "matrix.jpg")
    return client.open(case.path, method=case.method, data=data)


def expectation(rule: Rule, role: Role, target: str, method: str, api: bool):
    """Statuses the case must get, "ok" (any 2xx), "run-public", or None (not sent)."""
    write = method != GET
    if rule.access == "public":
        return "ok" if not write else None
    if role.anonymous:
        return "login"
    if rule.access == "login":
        return "ok" if not write else None
    if rule.access == "operator":
        if role.operator:
            return "ok" if not write else None
        return REFUSED
    if role.operator:
        if rule.operator == "allow" and target != "mixed":
            return "ok" if not write else None
        return REFUSED | {409} if write else REFUSED
    if target != "own" or role.kind not in rule.kinds:
        return REFUSED
    if rule.verified and not role.org.verified:
        return NOT_VERIFIED
    if rule.manage and not role.owner:
        return frozenset(rule.refused)
    if write:
        return None
    return frozenset({rule.member_get}) if (rule.member_get and not role.owner) else "ok"


def cases_for(app, world, roles) -> tuple[list[Case], list[str]]:
    problems, cases = [], []
    for method, endpoint, url_rule, variant in concrete_rules(app):
        rule = ROUTES.get(f"{method} {endpoint}")
        if rule is None:
            problems.append(f"unclassified route: {method} {endpoint} {url_rule.rule}")
            continue
        if rule.access == "skip":
            continue
        api = url_rule.rule.startswith("/api/")
        for role in roles:
            if rule.access == "public" and role.name not in PUBLIC_ROLES:
                continue  # the same page for everyone: one role of each kind is enough
            for target, values in targets(world, rule, role, url_rule, variant):
                if values is None:
                    problems.append(f"cannot fill {method} {url_rule.rule} for {role.name} ({target})")
                    continue
                expect = expectation(rule, role, target, method, api)
                if expect is None:
                    continue
                path = build_path(app, url_rule, {**values, **variant})
                if path is not None and rule.query:
                    path += "?" + rule.query.replace(
                        "{code}", f"matrix-code-{'A' if target == 'own' else 'B'}"
                    )
                if path is None:
                    problems.append(f"cannot build {url_rule.rule} from {values}")
                    continue
                body = resolve_body(rule.body, world, values)
                cases.append(
                    Case(
                        role,
                        method,
                        endpoint,
                        path,
                        target,
                        expect,
                        body,
                        api,
                        check_unchanged=method != GET and expect not in ("ok",),
                    )
                )
    return cases, problems


def resolve_body(body, world, values):
    if not body:
        return body
    body = {k.replace("{record_id}", str(values.get("record_id"))): v for k, v in body.items()}
    text = (
        json.dumps(body)
        .replace('"{B_outlet}"', str(world.org("B", P).res["outlet"]))
        .replace('"{A_maker}"', str(world.org("A", M).id))
        .replace('"{B_maker}"', str(world.org("B", M).id))
    )
    return json.loads(text)


def targets(world, rule: Rule, role: Role, url_rule, variant):
    """(target, path values) pairs: the role's own, another organization's, and for two-id
    routes the role's own parent with the other's child."""
    params = set(url_rule.arguments) - set(variant)
    res_type = rule.res
    if not params:
        return [("own" if rule.access == "org" else "none", {})]
    if res_type is None:
        return [("none", None)]
    holder_kind = HOLDER.get(res_type)
    if rule.access == "org":  # the caller's organization acts on a public resource (an outlet)
        holder = world.org("B", holder_kind or P)
        return [("own", fill(world, res_type, holder, holder.owner))]
    if res_type == "scheme_or_new":
        return [("none", fill(world, "scheme", None, None) if "scheme_id" in params else {})]
    if rule.access in ("public", "operator") or res_type in ("static", "language"):
        holder = world.org("A", M) if res_type == "invitation" else world.org("B", holder_kind or P)
        return [("none", fill(world, res_type, holder, holder.owner))]
    own_org = None if role.anonymous or role.operator else role.org
    own_holder = None
    if own_org is not None and own_org.kind in rule.kinds:
        if holder_kind is None:
            own_holder = own_org  # the organization itself, its members, tokens, notices
        elif own_org.side == "A":
            own_holder = world.org("A", holder_kind)
        elif res_type in own_org.res:
            own_holder = own_org  # the unverified provider's draft outlet
    result = []
    if own_holder is not None:
        result.append(("own", fill(world, res_type, own_holder, role.person)))
    other = world.org("B", holder_kind or (role.kind if role.kind in authz_world.KINDS else P))
    result.append(("other", fill(world, res_type, other, other.owner)))
    if own_holder is not None and res_type in TWO_LEVEL:
        result.append(("mixed", fill(world, res_type, own_holder, role.person, child_holder=other)))
    return result


def build_path(app, url_rule, values):
    from werkzeug.routing import BuildError

    with app.test_request_context():
        try:
            adapter = app.url_map.bind("localhost")
            extra = {k: v for k, v in values.items() if k in ("a", "b")}  # query values
            return adapter.build(
                url_rule.endpoint,
                {k: v for k, v in values.items() if k in url_rule.arguments} | extra,
                force_external=False,
                method=next(iter(url_rule.methods - {"HEAD", "OPTIONS"})),
            )
        except BuildError:
            return None


# --- checking -------------------------------------------------------------------------------


# Web forms that answer before the id is looked up, whoever's id it is: the organization
# switch redirects for every id (a membership decides), card payment is refused while Stripe is
# not configured, a cost pool's and a filing's submission forms are validated first.
WEB_FORM_FIRST = {
    "main.switch_organization": 302,
    "billing.pay_by_card": 400,
    "billing.update_pool": 422,
    "billing.create_pool": 422,
    "filings.detail": 422,
}


def _text(response) -> str:
    return response.get_data().decode("utf-8", "replace")


def judge(case: Case, response, markers_b) -> str | None:
    status = response.status_code
    what = f"{case.role.name} {case.method} {case.path} [{case.endpoint}, {case.target}]"
    if status >= 500:
        return f"{what}: {status}"
    expect = case.expect
    if expect == "login":
        if case.api:
            body = response.get_json(silent=True) or {}
            if status != 401 or set(body.get("error", {})) != {"code", "message", "fields"}:
                return f"{what}: anonymous API call got {status} {str(body)[:120]}, not 401 + error envelope"
        elif status != 302 or "/login" not in response.headers.get("Location", ""):
            return (
                f"{what}: anonymous page got {status} {response.headers.get('Location')}, not 302 to /login"
            )
        return None
    if expect == "ok":
        if not 200 <= status < (400 if not case.api else 300):
            return f"{what}: expected 2xx, got {status} {_text(response)[:160]!r}"
    elif not case.api and case.method != GET and (case.target == "own" or case.role.operator):
        # a refused form of one's own (or one the operator sees): a redirect with a message or
        # the form again, never 2xx-with-effect; the fingerprint proves it changed nothing
        if 200 <= status < 300:
            return f"{what}: a refused form answered {status}"
    elif not case.api and status == WEB_FORM_FIRST.get(case.endpoint):
        pass  # the form is checked before the id is looked up; nothing is shown or changed
    elif status not in expect:
        return f"{what}: expected {sorted(expect)}, got {status} {_text(response)[:160]!r}"
    if case.api and status >= 400:
        body = response.get_json(silent=True) or {}
        if set(body.get("error", {})) != {"code", "message", "fields"}:
            return f"{what}: {status} without the error envelope"
    if not case.role.operator and case.role.org is not None:
        text = _text(response) if response.mimetype.startswith(("text/", "application/json")) else ""
        leaked = [m for m in markers_b if m in text]
        if leaked:
            return f"{what}: shows another organization's {leaked}"
    return None


def run_matrix(app, world, api: bool):
    from app.extensions import limiter

    roles = roles_of(world)
    cases, problems = cases_for(app, world, roles)
    cases = [c for c in cases if c.api == api]
    sessions = Sessions(app)
    markers_b = world.markers["B"]
    shown_to_a: set[str] = set()  # A's markers seen by A: proof the leak check can see them
    failures: list[str] = list(problems)
    limiter.enabled = False
    last = None
    try:
        for case in cases:
            before = None
            if case.check_unchanged:  # the last write's "after" stands while only writes run
                before = last if last is not None else fingerprint(app)
            last = None
            response = send(sessions, case)
            case.result["status"] = response.status_code
            problem = judge(case, response, markers_b)
            own_side = case.role.org is not None and case.role.org.label.startswith("A.")
            if own_side and response.status_code < 300:
                shown_to_a.update(m for m in world.markers["A"] if m in _text(response))
            if problem:
                failures.append(problem)
            if before is not None and (last := fingerprint(app)) != before:
                failures.append(
                    f"{case.role.name} {case.method} {case.path} [{case.endpoint}, {case.target}]: "
                    f"answered {response.status_code} and changed the database"
                )
    finally:
        limiter.enabled = True
    # A marker its own side never sees could leak unnoticed: every one must show somewhere
    # (the audit entries' free text is on the web page only).
    unseen = set(world.markers["A"]) - shown_to_a - ({"matrix-audit-A"} if api else set())
    if unseen:
        failures.append(f"markers never shown to their own side, so never checked: {sorted(unseen)}")
    return cases, failures


def _report(kind, cases, failures):
    from collections import Counter

    routes = {(c.method, c.endpoint) for c in cases}
    roles = {c.role.name for c in cases}
    foreign = Counter(
        (c.method == GET, c.result.get("status")) for c in cases if c.target in ("other", "mixed")
    )
    print(
        f"\n{kind}: {len(cases)} requests over {len(routes)} routes x {len(roles)} roles; "
        f"{len(failures)} failures; another organization's resource answered (read?, status): "
        f"{dict(sorted(foreign.items(), key=str))}"
    )


def test_every_route_and_openapi_operation_is_classified(app, world):
    client = app.test_client()
    seen = {(m, rule_template(r)): e for m, e, r, _v in concrete_rules(app)}
    missing = [f"{m} {p}" for m, p in openapi_operations(client) if (m, p) not in seen]
    assert missing == [], f"OpenAPI operations with no route: {missing}"
    unclassified = sorted({f"{m} {e}" for m, e, _r, _v in concrete_rules(app)} - set(ROUTES))
    assert unclassified == [], "routes missing from the authorization matrix:\n" + "\n".join(unclassified)
    stale = sorted(set(ROUTES) - {f"{m} {e}" for m, e, _r, _v in concrete_rules(app)})
    assert stale == [], f"matrix entries for routes that no longer exist: {stale}"


def test_api_matrix(app, world):
    cases, failures = run_matrix(app, world, api=True)
    _report("API", cases, failures)
    assert len(cases) > 1000, "the matrix must actually send requests"
    assert not failures, f"{len(failures)} of {len(cases)}:\n" + "\n".join(failures)


def test_web_matrix(app, world):
    cases, failures = run_matrix(app, world, api=False)
    _report("web", cases, failures)
    assert len(cases) > 1000, "the matrix must actually send requests"
    assert not failures, f"{len(failures)} of {len(cases)}:\n" + "\n".join(failures)


def test_switching_to_another_organization_keeps_the_own(app, world):
    """The switch answers every id with a redirect; only a membership may change the session's
    organization, so B's agreements never show after asking for B."""
    sessions = Sessions(app)
    role = next(r for r in roles_of(world) if r.name == "A.manufacturer.owner")
    client, token = sessions.web(role)
    answer = client.post(f"/organization/switch/{world.org('B', M).id}", data={"csrf_token": token})
    assert answer.status_code == 302
    page = _text(client.get("/contracts/agreements"))
    assert world.markers["A"][0] in page and world.markers["B"][0] not in page
