"""Zoho Books connector: record customers and payments in Books, once each.

Actions:
    zoho_books.upsert_contact: find a customer by email (else phone, else name) or create it.
    zoho_books.record_payment: record a customer payment; the step's idempotency
        key goes in ``reference_number`` and is searched before creating, so a
        retry after a timeout writes once. Amounts applied to invoices may not
        exceed the payment nor an invoice's balance.
    zoho_books.create_invoice: a GST invoice; each line's slab becomes CGST+SGST
        (place of supply == ``gst_home_state``) or IGST; tax IDs from config or
        ``GET /settings/taxes`` (cached per connection).
    zoho_books.reconcile_credit: apply a bank credit to the open invoices it pays
        (rules: reference, amount, multi, partial; see ``matching``), or return
        ``{"status": "review", ...}`` with candidates and writes nothing.
    zoho_books.book_settlement: a gateway settlement as one balanced journal.
    zoho_books.record_refund: a refund of a customer payment (found by ID, by its
        reference_number or by text in its description, e.g. the gateway payment
        id), once per idempotency key; a payment not in Books yet is a
        TransientError (retry_after 60 s), so a refund that overtakes its
        payment waits for it (``refunds``).

GSTINs are checked (state code, PAN, GSTN mod-36 checksum) before Books is
called (``gst``).

Events: none (Books is a sink here).

Auth: OAuth 2.0 with a refresh token (Self Client or OAuth app) against the
organization's data centre, or got with the dashboard's Connect button
(``oauth_connect``, docs/oauth.md); access tokens are cached, refreshed five minutes
ahead of expiry, one refresh at a time per connection (``ZohoOAuth``).

Sandbox: ``create_sandbox_app`` (``python -m connectors.zoho_books.sandbox``)
speaks Zoho Accounts and Books v3 locally, with scripted faults for tests.

API docs: https://www.zoho.com/books/api/v3/ and
https://www.zoho.com/accounts/protocol/oauth.html
"""

from __future__ import annotations

from typing import Any

from hub.connector import Connector

from .actions import ContactIn, PaymentIn, RecordPayment, UpsertContact
from .auth import ZohoBooksSession, ZohoOAuth
from .config import ZohoBooksConfig
from .invoices import CreateInvoice, InvoiceIn, InvoiceLineIn
from .oauth_connect import BOOKS_SCOPES, zoho_oauth_app
from .reconcile import CreditIn, ReconcileCredit
from .refunds import RecordRefund, RefundIn
from .sandbox import SandboxState, create_sandbox_app
from .settlement import BookSettlement, SettlementIn

__all__ = [
    "BookSettlement",
    "ContactIn",
    "CreateInvoice",
    "CreditIn",
    "InvoiceIn",
    "InvoiceLineIn",
    "PaymentIn",
    "ReconcileCredit",
    "RecordPayment",
    "RecordRefund",
    "RefundIn",
    "SandboxState",
    "SettlementIn",
    "UpsertContact",
    "ZohoBooksConfig",
    "ZohoBooksSession",
    "ZohoOAuth",
    "connector",
    "create_sandbox_app",
]


def _base_url(cfg: Any) -> str:
    """The HTTP client's base: the API domain (Books paths are ``/books/v3/...``)."""
    assert isinstance(cfg, ZohoBooksConfig)
    return cfg.api_base()


connector = Connector(
    name="zoho_books",
    title="Zoho Books",
    config=ZohoBooksConfig,
    actions=(
        UpsertContact,
        RecordPayment,
        CreateInvoice,
        ReconcileCredit,
        BookSettlement,
        RecordRefund,
    ),
    session=ZohoBooksSession,
    base_url=_base_url,
    sandbox=create_sandbox_app,
    docs=__doc__ or "",
    oauth=zoho_oauth_app(BOOKS_SCOPES),
)
