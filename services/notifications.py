"""Notifications: an in-app inbox and e-mail, each in the recipient's language.

`notify()` adds inbox rows inside the caller's transaction and queues the e-mails on the
session; they are sent only after that transaction commits (app.mail wires the hook), so a
rolled-back action never mails anyone. Events are data: EVENTS maps an event name to its
subject and body, formatted with the event's params when read or mailed.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Membership, Notification, User
from app.models.types import utcnow
from services import paging
from services.errors import NotFound

EVENTS = {
    "application.received": (
        _l("New certification application for %(outlet)s"),
        _l("%(provider)s applied for certification of %(outlet)s under %(scheme)s.")),
    "application.accepted": (
        _l("Application accepted: %(outlet)s"),
        _l("%(certifier)s accepted the certification application for %(outlet)s.")),
    "application.declined": (
        _l("Application declined: %(outlet)s"),
        _l("%(certifier)s declined the application for %(outlet)s: %(reason)s")),
    "audit.scheduled": (
        _l("On-site audit scheduled: %(outlet)s"),
        _l("The on-site audit of %(outlet)s is scheduled for %(date)s.")),
    "nonconformity.raised": (
        _l("Nonconformities to answer: %(outlet)s"),
        _l("The audit of %(outlet)s found %(count)s nonconformities; answer each with a "
           "corrective action and evidence.")),
    "application.overdue": (
        _l("Application waiting too long: %(outlet)s"),
        _l("The certification application for %(outlet)s has had no action since %(since)s.")),
    "certificate.issued": (
        _l("Certificate %(number)s issued"),
        _l("%(outlet)s is certified until %(expires)s (certificate %(number)s).")),
    "certificate.suspended": (
        _l("Certificate %(number)s suspended"),
        _l("The certificate of %(outlet)s is suspended: %(reason)s")),
    "certificate.withdrawn": (
        _l("Certificate %(number)s withdrawn"),
        _l("The certificate of %(outlet)s is withdrawn: %(reason)s")),
    "certificate.reinstated": (
        _l("Certificate %(number)s reinstated"),
        _l("The certificate of %(outlet)s is valid again.")),
    "certificate.expired": (
        _l("Certificate %(number)s expired"),
        _l("The certificate of %(outlet)s expired on %(expires)s.")),
    "certificate.expiring": (
        _l("Certificate %(number)s expires on %(expires)s"),
        _l("The certificate of %(outlet)s expires on %(expires)s; apply for renewal in time.")),
    "surveillance.due": (
        _l("Surveillance audit due: %(outlet)s"),
        _l("The surveillance audit of %(outlet)s is due by %(due)s.")),
    # certification workflow
    "application.withdrawn": (
        _l("Application withdrawn: %(outlet)s"),
        _l("%(provider)s withdrew the certification application for %(outlet)s. %(reason)s")),
    "audit.completed": (
        _l("Audit completed without nonconformities: %(outlet)s"),
        _l("The audit of %(outlet)s found no nonconformity; the certification body decides next.")),
    "nonconformity.answered": (
        _l("Corrective action to verify: %(outlet)s"),
        _l("%(provider)s answered the nonconformity on item %(item)s of %(outlet)s.")),
    "nonconformity.reopened": (
        _l("Corrective action not accepted: %(outlet)s"),
        _l("The corrective action on item %(item)s of %(outlet)s was not accepted: %(reason)s")),
    "application.certified": (
        _l("Certification granted: %(outlet)s"),
        _l("%(certifier)s decided to certify %(outlet)s under %(scheme)s.")),
    "application.refused": (
        _l("Certification refused: %(outlet)s"),
        _l("%(certifier)s refused certification of %(outlet)s: %(reason)s")),
    "accreditation.verified": (
        _l("Accreditation %(number)s verified"),
        _l("Your accreditation %(number)s is verified: your organization can accept "
           "certification applications.")),
    "accreditation.rejected": (
        _l("Accreditation %(number)s rejected"),
        _l("Your accreditation %(number)s was not verified: %(reason)s")),
    # contracting
    "request.received": (
        _l("Capacity request for %(outlet)s"),
        _l("%(manufacturer)s requests %(tonnes)s t/year at %(outlet)s; accept, counter or "
           "decline.")),
    "request.accepted": (
        _l("Request accepted: %(outlet)s"),
        _l("%(provider)s accepted your request at %(outlet)s; sign agreement %(number)s.")),
    "request.declined": (
        _l("Request declined: %(outlet)s"),
        _l("%(provider)s declined your request at %(outlet)s: %(reason)s")),
    "request.countered": (
        _l("Counter-offer for %(outlet)s"),
        _l("%(provider)s proposes other terms for your request at %(outlet)s; accept them or "
           "withdraw.")),
    "request.counter_accepted": (
        _l("Counter-offer accepted: %(outlet)s"),
        _l("%(manufacturer)s accepted your counter-offer at %(outlet)s; sign agreement "
           "%(number)s.")),
    "request.withdrawn": (
        _l("Request withdrawn: %(outlet)s"),
        _l("%(manufacturer)s withdrew its request at %(outlet)s. %(reason)s")),
    "request.cancelled": (
        _l("Request cancelled: %(outlet)s"),
        _l("An operator cancelled the request of %(manufacturer)s at %(outlet)s: %(reason)s")),
    "request.expired": (
        _l("Request expired: %(outlet)s"),
        _l("The request of %(manufacturer)s at %(outlet)s expired unanswered by "
           "%(waited_on)s.")),
    "agreement.to_sign": (
        _l("Agreement %(number)s version %(version)s to sign"),
        _l("Version %(version)s of agreement %(number)s for %(outlet)s awaits your signature "
           "until %(sign_by)s.")),
    "agreement.active": (
        _l("Agreement %(number)s is in force"),
        _l("Every party signed version %(version)s of agreement %(number)s for %(outlet)s.")),
    "agreement.lapsed": (
        _l("Agreement %(number)s version %(version)s lapsed"),
        _l("Version %(version)s of agreement %(number)s for %(outlet)s was not signed by every "
           "party in time; the capacity it added is released.")),
    "agreement.notice_given": (
        _l("Notice given on agreement %(number)s"),
        _l("The allocation of %(manufacturer)s at %(outlet)s ends on %(ends_on)s. %(reason)s")),
    "agreement.terminated": (
        _l("Agreement %(number)s terminated by an operator"),
        _l("An operator terminated allocations under agreement %(number)s for %(outlet)s: "
           "%(reason)s")),
    "agreement.allocation_ended": (
        _l("Allocation ended: %(outlet)s"),
        _l("The allocation of %(manufacturer)s under agreement %(number)s ended on "
           "%(ends_on)s; it no longer counts as coverage.")),
    "agreement.renewal_due": (
        _l("Agreement %(number)s: renewal window open"),
        _l("The allocation of %(manufacturer)s at %(outlet)s ends on %(end_date)s; propose a "
           "renewal or let it expire.")),
    "agreement.flag_cleared": (
        _l("Agreement %(number)s: outlet back in order"),
        _l("Outlet %(outlet)s under agreement %(number)s is listed and certified again.")),
    "agreement.flagged": (
        _l("Agreement %(number)s needs attention"),
        _l("Outlet %(outlet)s under agreement %(number)s: %(reason)s")),
    # filings
    "joint_filing.to_confirm": (
        _l("Joint filings to confirm: %(count)s"),
        _l("%(count)s joint filings of shared outlets await your organization's confirmation; "
           "until every party confirms, they are marked unconfirmed in the makers' filings.")),
    "joint_filing.confirmed": (
        _l("Joint filing confirmed: %(outlet)s"),
        _l("Every party confirmed the joint filing of %(outlet)s.")),
    "filing.change_due": (
        _l("Change filing due by %(due_on)s"),
        _l("Your outlet data differs from filing version %(version)s as submitted (%(added)s added, "
           "%(removed)s removed, %(changed)s changed); submit a change filing by %(due_on)s.")),
    "filing.run_done": (
        _l("Filings generated: %(done)s of %(total)s"),
        _l("The filing run for %(as_of)s finished: %(done)s of %(total)s makers' filings. "
           "%(error)s")),
    # billing
    "invoice.issued": (
        _l("Invoice %(number)s: CNY %(gross)s due %(due_on)s"),
        _l("Invoice %(number)s for %(outlet)s is due on %(due_on)s; pay by bank transfer with "
           "the reference %(reference)s, or by card where offered.")),
    "invoice.payment_received": (
        _l("Payment received on invoice %(number)s"),
        _l("CNY %(amount)s received on invoice %(number)s; CNY %(outstanding)s left to pay "
           "(negative: paid over).")),
    "invoice.overdue": (
        _l("Invoice %(number)s is overdue"),
        _l("Invoice %(number)s for %(outlet)s was due on %(due_on)s (%(days)s days ago); "
           "CNY %(outstanding)s is left to pay.")),
    "invoice.written_off": (
        _l("Invoice %(number)s written off"),
        _l("An operator wrote off what was left to pay on invoice %(number)s: %(reason)s")),
    "invoice.credited": (
        _l("Credit note on invoice %(number)s"),
        _l("An operator credited CNY %(amount)s on invoice %(number)s: %(reason)s")),
    "invoice.refunded": (
        _l("Refund on invoice %(number)s"),
        _l("CNY %(amount)s paid over on invoice %(number)s was refunded: %(reason)s")),
    # handled tonnes
    "handling.recorded": (
        _l("Handled tonnes recorded: %(outlet)s"),
        _l("%(tonnes)s t handled on %(handled_on)s at %(outlet)s were recorded; dispute them by "
           "%(dispute_by)s if they are wrong, or they are invoiced.")),
    "handling.corrected": (
        _l("Handling record corrected: %(outlet)s"),
        _l("The record of %(old_tonnes)s t at %(outlet)s was corrected to %(tonnes)s t handled on "
           "%(handled_on)s; dispute it by %(dispute_by)s if it is still wrong.")),
    "handling.withdrawn": (
        _l("Handling record withdrawn: %(outlet)s"),
        _l("The record of %(tonnes)s t handled on %(handled_on)s at %(outlet)s was withdrawn and "
           "will not be invoiced. %(reason)s")),
    "handling.disputed": (
        _l("Handling record disputed: %(outlet)s"),
        _l("The record of %(tonnes)s t handled on %(handled_on)s at %(outlet)s is disputed: "
           "%(reason)s. Correct or withdraw it; until then it is not invoiced.")),
}


@dataclass(frozen=True)
class QueuedMail:
    user_id: int
    event: str
    params: dict
    link: str | None


def render(event: str, params: dict) -> tuple[str, str]:
    """Subject and body in the current locale; unknown params never break a message."""
    subject, body = EVENTS.get(event, (event, ""))

    class _Safe(dict):
        def __missing__(self, key):
            return "…"

    safe = _Safe({k: "" if v is None else v for k, v in params.items()})
    return str(subject) % safe, str(body) % safe


def notify(organization_ids, event: str, params: dict, *, link: str | None = None,
           roles=None) -> int:
    """Tell every member (optionally only some roles) of the given organizations."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}")
    ids = sorted({i for i in organization_ids if i is not None})
    if not ids:
        return 0
    query = select(Membership).where(Membership.organization_id.in_(ids))
    if roles:
        query = query.where(Membership.role.in_(list(roles)))
    count = 0
    outbox = db.session.info.setdefault("outbox", [])
    for membership in db.session.execute(query).scalars():
        db.session.add(Notification(user_id=membership.user_id,
                                    organization_id=membership.organization_id,
                                    event=event, params=params, link=link))
        outbox.append(QueuedMail(membership.user_id, event, params, link))
        count += 1
    db.session.flush()
    return count


def inbox(user: User, *, unread_only: bool = False, page: int = 1,
          per_page: int = 50) -> tuple[list[Notification], int]:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return paging.page_of(query, Notification.id.desc(), page=page, per_page=per_page)


def unread_count(user: User) -> int:
    return db.session.execute(
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))).scalar_one()


def mark_read(user: User, notification_id: int | None = None) -> int:
    """Mark one (or, with None, all) of the user's notifications read."""
    statement = update(Notification).where(Notification.user_id == user.id,
                                           Notification.read_at.is_(None))
    if notification_id is not None:
        exists = db.session.execute(select(Notification.id).where(
            Notification.id == notification_id, Notification.user_id == user.id)).scalar()
        if exists is None:
            raise NotFound("notification", notification_id)
        statement = statement.where(Notification.id == notification_id)
    return db.session.execute(statement.values(read_at=utcnow())).rowcount
