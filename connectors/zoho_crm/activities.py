"""Zoho CRM activities and lookup: ``add_note``, ``create_task``, ``search``.

Notes and tasks have no field to upsert on out of the box, so each carries a
line ``hub:<key>`` (the step's idempotency key) and is looked for before it is
created: a note among its parent's notes (the related list, which has no
search-index lag), a task among tasks with the same subject (criteria search).
``search`` only reads: a contact or lead by email or phone.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hub.connector import Action, ActionContext

from .config import API_NAME_PATTERN, ZohoCrmConfig
from .results import API, crm_item, escape, hub_marker, rows_of, search_rows, session_of, write_body
from .session import ZohoCrmSession

__all__ = ["AddNote", "CreateTask", "NoteIn", "Search", "SearchIn", "TaskIn"]

NOTE_PAGES = 5  # notes scanned per parent before creating: 5 pages of 200
TASK_PAGES = 5  # same-subject tasks scanned before creating


class NoteIn(BaseModel):
    """A note to attach to a record once per idempotency key."""

    model_config = ConfigDict(extra="forbid")

    module: str = Field(
        default="Contacts",
        pattern=API_NAME_PATTERN,
        description="API name of the parent's module: Leads, Contacts, Accounts, Deals, ...",
    )
    record_id: str = Field(min_length=1, description="ID of the parent record.")
    title: str | None = Field(default=None, max_length=120, description="Note_Title.")
    content: str = Field(min_length=1, description="Note_Content (plain text).")


class AddNote(Action[ZohoCrmConfig, NoteIn]):
    """Add a note to a record once: its content ends with ``hub:<key>``, looked for first."""

    name = "zoho_crm.add_note"
    input_model = NoteIn
    description = "Add a note to a Zoho CRM record, once per idempotency key."

    async def run(self, item: NoteIn, ctx: ActionContext) -> dict[str, Any]:
        session = session_of(ctx)
        marker = hub_marker(ctx.idempotency_key)
        existing = await self._find(session, item, marker)
        if existing is not None:
            return {"id": str(existing["id"]), "created": False}
        note: dict[str, Any] = {
            "Note_Content": f"{item.content}\n\n{marker}",
            # v4+ shape (module inside Parent_Id); $se_module kept for older orgs' layouts.
            "Parent_Id": {"module": {"api_name": item.module}, "id": item.record_id},
            "$se_module": item.module,
        }
        if item.title:
            note["Note_Title"] = item.title
        resp = await session.request(
            "POST", f"{API}/Notes", json_body=write_body(note, self.config)
        )
        result = crm_item(resp, "the note")
        return {"id": str(result["details"]["id"]), "created": True}

    @staticmethod
    async def _find(session: ZohoCrmSession, item: NoteIn, marker: str) -> dict[str, Any] | None:
        """The parent's note carrying ``marker`` (its related list: no search-index lag)."""
        path = f"{API}/{item.module}/{item.record_id}/Notes"
        for page in range(1, NOTE_PAGES + 1):
            params = {"fields": "Note_Title,Note_Content", "page": str(page), "per_page": "200"}
            resp = await session.request("GET", path, params=params)
            rows, more = rows_of(resp, "the note lookup")
            for row in rows:
                lines = str(row.get("Note_Content") or "").splitlines()
                if row.get("id") and marker in (line.strip() for line in lines):
                    return row
            if not more:
                break
        return None


class TaskIn(BaseModel):
    """A task to create once per idempotency key."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=255, description="Subject (required).")
    due_date: dt.date | None = Field(default=None, description="Due_Date, yyyy-mm-dd.")
    status: str | None = Field(
        default=None, description="Status picklist value, e.g. 'Not Started'."
    )
    priority: str | None = Field(
        default=None, description="Priority picklist value, e.g. 'High', 'Normal'."
    )
    what_id: str | None = Field(
        default=None, description="ID of the account, deal or custom record the task is about."
    )
    what_module: str | None = Field(
        default=None,
        pattern=API_NAME_PATTERN,
        description="Module of what_id ($se_module), e.g. Deals or Accounts; required with it.",
    )
    who_id: str | None = Field(default=None, description="ID of the contact the task is with.")
    description: str | None = Field(default=None, description="Description (free text).")

    @model_validator(mode="after")
    def _what(self) -> TaskIn:
        if self.what_id and not self.what_module:
            raise ValueError("what_module ($se_module) is required with what_id")
        return self


class CreateTask(Action[ZohoCrmConfig, TaskIn]):
    """Create a task once: its description ends with ``hub:<key>``, searched for by subject first."""

    name = "zoho_crm.create_task"
    input_model = TaskIn
    description = "Create a Zoho CRM task, once per idempotency key."

    async def run(self, item: TaskIn, ctx: ActionContext) -> dict[str, Any]:
        session = session_of(ctx)
        marker = hub_marker(ctx.idempotency_key)
        criteria = f"(Subject:equals:{escape(item.subject)})"
        rows = await search_rows(
            session, "Tasks", {"criteria": criteria}, "the task search", pages=TASK_PAGES
        )
        for row in rows:
            lines = str(row.get("Description") or "").splitlines()
            if row.get("id") and marker in (line.strip() for line in lines):
                return {"id": str(row["id"]), "created": False}
        description = f"{item.description}\n\n{marker}" if item.description else marker
        task: dict[str, Any] = {
            "Subject": item.subject,
            "Due_Date": item.due_date.isoformat() if item.due_date else None,
            "Status": item.status,
            "Priority": item.priority,
            "Who_Id": {"id": item.who_id} if item.who_id else None,
            "What_Id": {"id": item.what_id} if item.what_id else None,
            "$se_module": item.what_module if item.what_id else None,
            "Description": description,
        }
        task = {k: v for k, v in task.items() if v is not None}
        resp = await session.request(
            "POST", f"{API}/Tasks", json_body=write_body(task, self.config)
        )
        result = crm_item(resp, "the task")
        return {"id": str(result["details"]["id"]), "created": True}


# --- lookup ---------------------------------------------------------------------------------

_SUMMARY = (
    "First_Name", "Last_Name", "Full_Name", "Email", "Phone", "Mobile", "Company",
    "Lead_Status", "Lead_Source",
)  # fmt: skip


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())[-10:]


SearchModule = Literal["Contacts", "Leads"]
_DEFAULT_MODULES: tuple[SearchModule, ...] = ("Contacts", "Leads")


class SearchIn(BaseModel):
    """Who to look up: an email or a phone number, in Contacts and/or Leads."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, min_length=3, description="Email to look for.")
    phone: str | None = Field(
        default=None, min_length=4, description="Phone or mobile to look for (last 10 digits)."
    )
    modules: list[SearchModule] = Field(
        default_factory=lambda: list(_DEFAULT_MODULES),
        min_length=1,
        description="Modules to search, in order; the first hit wins.",
    )

    @model_validator(mode="after")
    def _one(self) -> SearchIn:
        if not self.email and not self.phone:
            raise ValueError("give email or phone")
        return self


class Search(Action[ZohoCrmConfig, SearchIn]):
    """Find a contact or lead by email (else phone); reads only."""

    name = "zoho_crm.search"
    input_model = SearchIn
    description = "Look up a Zoho CRM contact or lead by email or phone."

    async def run(self, item: SearchIn, ctx: ActionContext) -> dict[str, Any]:
        session = session_of(ctx)
        for module in item.modules:
            row = await self._find(session, module, item)
            if row is not None:
                return {
                    "found": True,
                    "id": str(row["id"]),
                    "module": module,
                    "record": {k: row[k] for k in _SUMMARY if row.get(k) is not None},
                }
        return {"found": False, "id": None, "module": None, "record": {}}

    @staticmethod
    async def _find(session: ZohoCrmSession, module: str, item: SearchIn) -> dict[str, Any] | None:
        what = f"the {module} search"
        if item.email:
            wanted = item.email.strip().lower()
            criteria = f"(Email:equals:{escape(item.email.strip())})"
            rows = await search_rows(session, module, {"criteria": criteria}, what)
            return next(
                (r for r in rows if r.get("id") and str(r.get("Email", "")).lower() == wanted),
                None,
            )
        assert item.phone is not None
        digits = _digits(item.phone)
        rows = await search_rows(session, module, {"phone": item.phone.strip()}, what)
        for row in rows:
            phones = (str(row.get(k) or "") for k in ("Phone", "Mobile"))
            if row.get("id") and any(p and _digits(p) == digits for p in phones):
                return row
        return None
