"""Zoho CRM connector: leads, contacts, deals, notes and tasks, each written once; a lookup.

Actions:
    zoho_crm.upsert_lead / zoho_crm.upsert_contact: ``/{module}/upsert`` on
        ``duplicate_check_fields`` (default Email); ``Last_Name`` derived from
        ``name`` when not given.
    zoho_crm.create_deal: the step's idempotency key goes in a unique custom
        field (``deal_key_field``, default ``Hub_Key``): searched, then upserted on.
    zoho_crm.update_deal: ``PUT /Deals/{id}`` (same values twice: same effect).
    zoho_crm.add_note: content ends with ``hub:<key>``; the parent's notes are
        checked for it before creating.
    zoho_crm.create_task: description ends with ``hub:<key>``; tasks with the
        same subject are searched for it before creating.
    zoho_crm.search: a contact or lead by email or phone (``found`` false on 204).

Events: none (CRM is a sink here).

Auth: OAuth 2.0 with a refresh token against the org's data centre, through the
Zoho-wide ``ZohoOAuth`` (cached, refreshed ahead of expiry, single-flight, one
refresh and retry on 401 ``INVALID_TOKEN``). Scopes: ``ZohoCRM.modules.ALL``,
``ZohoSearch.securesearch.READ``.

Setup: create a single-line custom field ``Hub_Key`` on Deals with "Do not
allow duplicate values" (or set ``deal_key_field``).

Sandbox: ``create_sandbox_app`` (``python -m connectors.zoho_crm.sandbox``)
speaks Zoho Accounts and CRM v7 locally, with API credits, a concurrency cap
and scripted faults for tests.

API docs: https://www.zoho.com/crm/developer/docs/api/v7/ and
https://www.zoho.com/accounts/protocol/oauth.html
"""

from __future__ import annotations

from typing import Any

from connectors.zoho_books.oauth_connect import zoho_oauth_app
from hub.connector import Connector

from .actions import (
    AddNote,
    ContactIn,
    CreateDeal,
    CreateTask,
    DealIn,
    DealUpdateIn,
    LeadIn,
    NoteIn,
    Search,
    SearchIn,
    TaskIn,
    UpdateDeal,
    UpsertContact,
    UpsertLead,
)
from .config import ZohoCrmConfig
from .sandbox import SandboxState, create_sandbox_app
from .session import ZohoCrmSession

__all__ = [
    "AddNote",
    "ContactIn",
    "CreateDeal",
    "CreateTask",
    "DealIn",
    "DealUpdateIn",
    "LeadIn",
    "NoteIn",
    "SandboxState",
    "Search",
    "SearchIn",
    "TaskIn",
    "UpdateDeal",
    "UpsertContact",
    "UpsertLead",
    "ZohoCrmConfig",
    "ZohoCrmSession",
    "connector",
    "create_sandbox_app",
]


def _base_url(cfg: Any) -> str:
    """The HTTP client's base: the API domain (CRM paths are ``/crm/v7/...``)."""
    assert isinstance(cfg, ZohoCrmConfig)
    return cfg.api_base()


connector = Connector(
    name="zoho_crm",
    title="Zoho CRM",
    config=ZohoCrmConfig,
    actions=(UpsertLead, UpsertContact, CreateDeal, UpdateDeal, AddNote, CreateTask, Search),
    session=ZohoCrmSession,
    base_url=_base_url,
    sandbox=create_sandbox_app,
    docs=__doc__ or "",
    # The Connect button (docs/oauth.md): records, and search for the duplicate checks.
    oauth=zoho_oauth_app(("ZohoCRM.modules.ALL", "ZohoSearch.securesearch.READ")),
)
