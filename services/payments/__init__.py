"""Payment providers behind one small interface.

A provider says whether it is available (configured), what a customer needs to pay an
invoice with it (`instructions`), and how a payment starts (`start`). Money is marked as
received only through `services.invoices.apply_payment`: for bank transfers when the payee or
an operator records or imports the transfer, for Stripe only when its webhook says so.

Bank transfer is the default and always available (Stripe does not onboard mainland-China
merchants); Stripe is offered only when its keys are configured. Only this package imports
`stripe`.
"""

from __future__ import annotations

from typing import Protocol

from app.models import Invoice
from services.audit import Actor


class PaymentProvider(Protocol):
    name: str

    def available(self) -> bool: ...

    def instructions(self, invoice: Invoice) -> dict: ...

    def start(self, actor: Actor, invoice: Invoice) -> dict: ...


def providers() -> list[PaymentProvider]:
    """The providers offered now, the default first."""
    from services.payments import bank_transfer, stripe_provider

    return [p for p in (bank_transfer.PROVIDER, stripe_provider.PROVIDER) if p.available()]


def get(name: str) -> PaymentProvider | None:
    return next((p for p in providers() if p.name == name), None)
