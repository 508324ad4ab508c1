"""Zoho CRM sink actions: leads, contacts and deals here; notes, tasks, search in ``activities``.

All seven actions are importable from this module. How each write stays "once in effect" (ARCHITECTURE.md, Guarantees):

- ``upsert_lead`` / ``upsert_contact``: ``POST /{module}/upsert`` keyed by
  ``duplicate_check_fields`` (default ``Email``); a retry updates the same record.
- ``create_deal``: the step's idempotency key goes in a unique custom field
  (``deal_key_field``, default ``Hub_Key``). The action searches that field
  first (a replay then changes nothing, not even a Stage a person moved since),
  and writes with ``/Deals/upsert`` on that field, so even a retry the search
  cannot see yet (search indexing lags) updates instead of duplicating.
- ``update_deal``: ``PUT /Deals/{id}`` with the same values is idempotent.
- ``add_note``: Notes have no custom fields to upsert on, so the content ends
  with a line ``hub:<key>``; before creating, the parent record's notes are
  listed (``GET /{module}/{id}/Notes``, no search-index lag) and a note with
  that line is returned instead.
- ``create_task``: the description ends with ``hub:<key>``; before creating,
  ``GET /Tasks/search?criteria=(Subject:equals:...)`` is scanned for it. Search
  indexing lags a little, so a retry within seconds of a timed-out create can
  still duplicate; a unique custom field would close that gap (not assumed).

Reading CRM's answers (per-record ``status`` is the truth, 204 is "no hits")
lives in ``results``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.connector import Action, ActionContext
from hub.errors import ConfigError

from .activities import AddNote, CreateTask, NoteIn, Search, SearchIn, TaskIn
from .config import ZohoCrmConfig
from .results import (
    API,
    API_NAME,
    check_custom,
    crm_item,
    find_exact,
    key_value,
    number,
    session_of,
    split_name,
    write_body,
)
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
    "Search",
    "SearchIn",
    "TaskIn",
    "UpdateDeal",
    "UpsertContact",
    "UpsertLead",
]

# --- leads and contacts ---------------------------------------------------------------------

_PERSON_FIELDS = {
    "Last_Name", "First_Name", "Email", "Phone", "Mobile", "Lead_Source", "Description",
    "Company",
}  # fmt: skip


class _PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "Full name, used when last_name is not given: the last word becomes Last_Name, "
            "the rest First_Name (one word: all of it is Last_Name)."
        ),
    )
    last_name: str | None = Field(
        default=None, min_length=1, max_length=80, description="Last_Name (Zoho requires it)."
    )
    first_name: str | None = Field(default=None, max_length=40, description="First_Name.")
    email: str | None = Field(default=None, description="Email; the default duplicate check.")
    phone: str | None = Field(default=None, description="Phone, e.g. +919845012345.")
    mobile: str | None = Field(default=None, description="Mobile, e.g. +919845012345.")
    lead_source: str | None = Field(
        default=None, description="Lead_Source picklist value, e.g. 'Web Download'."
    )
    description: str | None = Field(default=None, description="Description (free text).")
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Other fields by API name, e.g. custom ones: {'GSTIN__c': '29ABCDE1234F1Z5'}.",
    )
    duplicate_check_fields: list[str] = Field(
        default_factory=lambda: ["Email"],
        min_length=1,
        max_length=5,
        description=(
            "Fields that find the existing record, in order: Email, Phone, Mobile, or a custom "
            "field with 'Do not allow duplicate values' (its value goes in `fields`)."
        ),
    )

    @field_validator("duplicate_check_fields")
    @classmethod
    def _api_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not API_NAME.match(name):
                raise ValueError(f"{name!r} is not a Zoho field API name")
        return value

    @model_validator(mode="after")
    def _complete(self) -> _PersonIn:
        if not self.last_name and not (self.name and self.name.strip()):
            raise ValueError("give last_name or name (Zoho requires Last_Name)")
        check_custom(self.fields, _PERSON_FIELDS)
        record = self.record()
        if not any(record.get(field) not in (None, "") for field in self.duplicate_check_fields):
            raise ValueError(
                "none of duplicate_check_fields "
                f"{self.duplicate_check_fields} has a value: a retry could not find the record"
            )
        return self

    def record(self) -> dict[str, Any]:
        """The CRM record (API names), without empty values."""
        first, last = self.first_name, self.last_name
        if not last:
            assert self.name is not None
            derived_first, last = split_name(self.name)
            first = first or derived_first
        record: dict[str, Any] = {
            "Last_Name": last,
            "First_Name": first,
            "Email": self.email,
            "Phone": self.phone,
            "Mobile": self.mobile,
            "Lead_Source": self.lead_source,
            "Description": self.description,
            **self._extra(),
            **self.fields,
        }
        return {k: v for k, v in record.items() if v is not None}

    def _extra(self) -> dict[str, Any]:
        return {}


class LeadIn(_PersonIn):
    """A lead to create or update, found by its duplicate-check fields (default Email)."""

    company: str | None = Field(default=None, max_length=200, description="Company (Leads).")

    def _extra(self) -> dict[str, Any]:
        return {"Company": self.company}


class ContactIn(_PersonIn):
    """A contact to create or update, found by its duplicate-check fields (default Email)."""


async def _upsert(
    session: ZohoCrmSession,
    module: str,
    record: dict[str, Any],
    checks: list[str],
    what: str,
) -> dict[str, Any]:
    body = write_body(record, session.config)
    body["duplicate_check_fields"] = checks
    resp = await session.request("POST", f"{API}/{module}/upsert", json_body=body)
    return crm_item(resp, what)


class _UpsertPerson(Action[ZohoCrmConfig, _PersonIn]):
    module = "Leads"

    async def run(self, item: _PersonIn, ctx: ActionContext) -> dict[str, Any]:
        session = session_of(ctx)
        what = f"the {self.module[:-1].lower()}"
        result = await _upsert(
            session, self.module, item.record(), item.duplicate_check_fields, what
        )
        # "created" rather than Zoho's "action": a retry answers "update", and a
        # retry must return the same result apart from whether it created.
        return {
            "id": str(result["details"]["id"]),
            "module": self.module,
            "created": result.get("action") == "insert",
        }


class UpsertLead(_UpsertPerson):
    """Create or update a CRM lead by Email (or the given duplicate-check fields)."""

    name = "zoho_crm.upsert_lead"
    input_model = LeadIn
    description = (
        "Create or update a Zoho CRM lead, matched on Email/Phone/Mobile or a unique field."
    )
    module = "Leads"


class UpsertContact(_UpsertPerson):
    """Create or update a CRM contact by Email (or the given duplicate-check fields)."""

    name = "zoho_crm.upsert_contact"
    input_model = ContactIn
    description = (
        "Create or update a Zoho CRM contact, matched on Email/Phone/Mobile or a unique field."
    )
    module = "Contacts"


# --- deals ----------------------------------------------------------------------------------

_DEAL_FIELDS = {
    "Deal_Name", "Stage", "Amount", "Closing_Date", "Contact_Name", "Account_Name",
    "Description", "Pipeline",
}  # fmt: skip


class DealIn(BaseModel):
    """A deal to create once per idempotency key."""

    model_config = ConfigDict(extra="forbid")

    deal_name: str = Field(min_length=1, max_length=120, description="Deal_Name (required).")
    stage: str = Field(
        min_length=1, description="Stage picklist value (required), e.g. 'Qualification'."
    )
    amount: Decimal | None = Field(
        default=None, ge=0, max_digits=15, description="Amount in major units, e.g. '25000.00'."
    )
    closing_date: dt.date | None = Field(default=None, description="Closing_Date, yyyy-mm-dd.")
    contact_id: str | None = Field(
        default=None, description="ID of the contact the deal is for (Contact_Name lookup)."
    )
    account_id: str | None = Field(
        default=None, description="ID of the account the deal is for (Account_Name lookup)."
    )
    pipeline: str | None = Field(default=None, description="Pipeline, when the org has several.")
    description: str | None = Field(default=None, description="Description (free text).")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Other fields by API name, e.g. custom ones."
    )

    @model_validator(mode="after")
    def _custom(self) -> DealIn:
        check_custom(self.fields, _DEAL_FIELDS)
        return self

    def record(self) -> dict[str, Any]:
        """The CRM record (API names), without empty values."""
        record: dict[str, Any] = {
            "Deal_Name": self.deal_name,
            "Stage": self.stage,
            "Amount": number(self.amount) if self.amount is not None else None,
            "Closing_Date": self.closing_date.isoformat() if self.closing_date else None,
            "Contact_Name": {"id": self.contact_id} if self.contact_id else None,
            "Account_Name": {"id": self.account_id} if self.account_id else None,
            "Pipeline": self.pipeline,
            "Description": self.description,
            **self.fields,
        }
        return {k: v for k, v in record.items() if v is not None}


class CreateDeal(Action[ZohoCrmConfig, DealIn]):
    """Create a deal once: the idempotency key goes in a unique field, searched then upserted on."""

    name = "zoho_crm.create_deal"
    input_model = DealIn
    description = "Create a Zoho CRM deal once per idempotency key (unique Hub_Key field)."

    async def run(self, item: DealIn, ctx: ActionContext) -> dict[str, Any]:
        session = session_of(ctx)
        field = self.config.deal_key_field
        if field in item.fields:
            raise ConfigError(f"{field} holds the hub's idempotency key; do not set it in fields")
        key = key_value(ctx.idempotency_key)
        existing = await find_exact(session, "Deals", field, key)
        if existing is not None:
            return {"id": str(existing["id"]), "created": False}
        record = {**item.record(), field: key}
        result = await _upsert(session, "Deals", record, [field], "the deal")
        return {"id": str(result["details"]["id"]), "created": result.get("action") == "insert"}


class DealUpdateIn(BaseModel):
    """Fields to change on an existing deal; only those given are sent."""

    model_config = ConfigDict(extra="forbid")

    deal_id: str = Field(min_length=1, description="ID of the deal to update.")
    deal_name: str | None = Field(default=None, min_length=1, description="New Deal_Name.")
    stage: str | None = Field(
        default=None, min_length=1, description="New Stage, e.g. 'Closed Won'."
    )
    amount: Decimal | None = Field(
        default=None, ge=0, max_digits=15, description="New Amount in major units."
    )
    closing_date: dt.date | None = Field(default=None, description="New Closing_Date.")
    description: str | None = Field(default=None, description="New Description.")
    fields: dict[str, Any] = Field(
        default_factory=dict, description="Other fields to change, by API name."
    )

    @model_validator(mode="after")
    def _something(self) -> DealUpdateIn:
        check_custom(self.fields, _DEAL_FIELDS)
        if not self.record():
            raise ValueError("give at least one field to change")
        return self

    def record(self) -> dict[str, Any]:
        """The changed fields (API names)."""
        record: dict[str, Any] = {
            "Deal_Name": self.deal_name,
            "Stage": self.stage,
            "Amount": number(self.amount) if self.amount is not None else None,
            "Closing_Date": self.closing_date.isoformat() if self.closing_date else None,
            "Description": self.description,
            **self.fields,
        }
        return {k: v for k, v in record.items() if v is not None}


class UpdateDeal(Action[ZohoCrmConfig, DealUpdateIn]):
    """Set fields on a deal (``PUT /Deals/{id}``): writing the same values again is harmless."""

    name = "zoho_crm.update_deal"
    input_model = DealUpdateIn
    description = "Update fields (Stage, Amount, ...) of a Zoho CRM deal by ID."

    async def run(self, item: DealUpdateIn, ctx: ActionContext) -> dict[str, Any]:
        session = session_of(ctx)
        body = write_body(item.record(), self.config)
        resp = await session.request("PUT", f"{API}/Deals/{item.deal_id}", json_body=body)
        result = crm_item(resp, "the deal update")
        return {"id": str(result["details"]["id"]), "updated": True}
