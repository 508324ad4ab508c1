"""Sandbox routes for Books' GST taxes, taxed invoices and manual journals.

Split from ``sandbox.py`` (which registers these handlers). Behaviour copied
from Books where it matters to the connector:

- ``GET /settings/taxes``: seeded CGST/SGST/IGST taxes for every GST slab and
  one tax group per slab (``GST18`` = ``CGST9`` + ``SGST9``).
- ``POST /invoices``: line amount = rate x quantity; each line taxed by its
  ``tax_id`` (a group applies each of its taxes); every tax amount rounded to
  2 dp per line; with ``is_inclusive_tax`` the amount includes the tax (each
  tax = amount x its % / (100 + the line's total %); the line's ``item_total``
  is the amount less its taxes, so ``total`` = the rates); ``sub_total``, ``tax_total``, ``total``, ``taxes[]`` summed.
  Payments then lower ``balance`` and move ``status`` sent -> partially_paid -> paid.
- ``GET /invoices`` filters ``customer_id``, ``reference_number``,
  ``invoice_number`` and ``status`` (``unpaid``: sent, overdue or partially_paid).
- ``POST /journals``: line items with ``account_id``, ``debit_or_credit``,
  ``amount``; debits must equal credits. ``GET /journals?reference_number=``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

from .gst import GST_SLABS, slab_label
from .sandbox import STATE, SandboxState, _body, _error, _json, _money, _page

__all__ = [
    "create_invoice",
    "create_journal",
    "get_journal",
    "list_invoices",
    "list_journals",
    "list_taxes",
    "seed_taxes",
]

CENT = Decimal("0.01")
UNPAID = ("sent", "overdue", "partially_paid")


def _round(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def seed_taxes(state: SandboxState) -> dict[str, dict[str, Any]]:
    """Books' GST taxes of an Indian organization: CGST/SGST/IGST per slab and GST groups."""
    if state.taxes:
        return state.taxes
    for rate in GST_SLABS:
        half = rate / 2
        parts = []
        for kind, pct in (("cgst", half), ("sgst", half), ("igst", rate)):
            tax: dict[str, Any] = {
                "tax_id": state.new_id(),
                "tax_name": f"{kind.upper()}{slab_label(pct)}",
                "tax_percentage": pct,
                "tax_type": "tax",
                "tax_specific_type": kind,
            }
            state.taxes[tax["tax_id"]] = tax
            if kind != "igst":
                parts.append(tax["tax_id"])
        group: dict[str, Any] = {
            "tax_id": state.new_id(),
            "tax_name": f"GST{slab_label(rate)}",
            "tax_percentage": rate,
            "tax_type": "tax_group",
            "tax_specific_type": "",
            "taxes": parts,
        }
        state.taxes[group["tax_id"]] = group
    return state.taxes


async def list_taxes(request: web.Request) -> web.Response:
    """``GET /books/v3/settings/taxes``: every tax and tax group."""
    rows = list(seed_taxes(request.app[STATE]).values())
    return _page(request, rows, "taxes")


def _summary(invoice: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in invoice.items() if k not in ("line_items", "taxes")}


async def list_invoices(request: web.Request) -> web.Response:
    q = request.query
    rows = list(request.app[STATE].invoices.values())
    for key in ("customer_id", "reference_number", "invoice_number"):
        if key in q:
            rows = [i for i in rows if i.get(key) == q[key]]
    if "status" in q:
        wanted = UNPAID if q["status"] == "unpaid" else (q["status"],)
        rows = [i for i in rows if i["status"] in wanted]
    return _page(request, [_summary(i) for i in rows], "invoices")


def _tax_line(
    state: SandboxState, line: dict[str, Any], amount: Decimal, inclusive: bool = False
) -> list[tuple[str, Decimal]] | None:
    tax_id = line.get("tax_id")
    if tax_id in (None, ""):
        return []
    taxes = seed_taxes(state)
    tax = taxes.get(str(tax_id))
    if tax is None:
        return None
    parts = [taxes[t] for t in tax.get("taxes", [])] if tax["tax_type"] == "tax_group" else [tax]
    if inclusive:  # the amount includes the tax: take it out at rate / (100 + rate)
        whole = 100 + sum((Decimal(str(p["tax_percentage"])) for p in parts), Decimal(0))
        return [(p["tax_name"], _round(amount * p["tax_percentage"] / whole)) for p in parts]
    return [(p["tax_name"], _round(amount * p["tax_percentage"] / 100)) for p in parts]


async def create_invoice(request: web.Request) -> web.Response:
    """``POST /books/v3/invoices``: line items taxed by ``tax_id``, totals like Books."""
    state = request.app[STATE]
    body = await _body(request)
    if body is None:
        return _error("json")
    customer = state.contacts.get(str(body.get("customer_id", "")))
    if customer is None:
        return _error("customer")
    lines = body.get("line_items")
    if not isinstance(lines, list) or not lines or not all(isinstance(x, dict) for x in lines):
        return _error("line_items")
    place = body.get("place_of_supply")
    if place is not None and not re.fullmatch(r"[A-Z]{2}", str(place)):
        return _error("invalid", "place_of_supply")
    inclusive = body.get("is_inclusive_tax") is True
    sub_total = Decimal(0)
    taxes: dict[str, Decimal] = {}
    stored_lines = []
    for line in lines:
        rate, qty = _money(line.get("rate")), _money(line.get("quantity", 1))
        if rate is None or qty is None or rate < 0 or qty <= 0:
            return _error("invalid", "line_items")
        amount = _round(rate * qty)
        shares = _tax_line(state, line, amount, inclusive)
        if shares is None:
            return _error("invalid", "tax_id")
        for name, value in shares:
            taxes[name] = taxes.get(name, Decimal(0)) + value
        if inclusive:  # the line's amount without its tax; total = the rates as given
            amount -= sum((value for _, value in shares), Decimal(0))
        sub_total += amount
        stored_lines.append({**line, "line_item_id": state.new_id(), "item_total": amount})
    tax_total = sum(taxes.values(), Decimal(0))
    total = sub_total + tax_total
    number = len(state.invoices) + 1
    invoice = {
        "invoice_id": state.new_id(),
        "invoice_number": f"INV-{number:06d}",
        "customer_id": customer["contact_id"],
        "customer_name": customer["contact_name"],
        "date": body.get("date") or dt.date.today().isoformat(),
        "due_date": body.get("due_date") or body.get("date") or dt.date.today().isoformat(),
        "status": "sent",
        "reference_number": body.get("reference_number", ""),
        "place_of_supply": place or customer.get("place_of_contact") or "",
        "gst_treatment": body.get("gst_treatment") or customer.get("gst_treatment") or "",
        "notes": body.get("notes", ""),
        "is_inclusive_tax": inclusive,
        "line_items": stored_lines,
        "sub_total": sub_total,
        "tax_total": tax_total,
        "taxes": [{"tax_name": k, "tax_amount": v} for k, v in taxes.items()],
        "total": total,
        "balance": total,
    }
    state.invoices[invoice["invoice_id"]] = invoice
    return _json({"code": 0, "message": "The invoice has been created.", "invoice": invoice}, 201)


async def list_journals(request: web.Request) -> web.Response:
    q = request.query
    rows = list(request.app[STATE].journals.values())
    if "reference_number" in q:
        rows = [j for j in rows if j["reference_number"] == q["reference_number"]]
    return _page(request, rows, "journals")


async def create_journal(request: web.Request) -> web.Response:
    """``POST /books/v3/journals``: balanced debit and credit lines."""
    state = request.app[STATE]
    body = await _body(request)
    if body is None:
        return _error("json")
    try:
        day = dt.date.fromisoformat(str(body.get("journal_date", "")))
    except ValueError:
        return _error("invalid", "journal_date")
    lines = body.get("line_items")
    if not isinstance(lines, list) or len(lines) < 2:
        return _error("line_items")
    sums = {"debit": Decimal(0), "credit": Decimal(0)}
    for line in lines:
        if not isinstance(line, dict) or not line.get("account_id"):
            return _error("invalid", "account_id")
        side = line.get("debit_or_credit")
        amount = _money(line.get("amount"))
        if side not in sums:
            return _error("invalid", "debit_or_credit")
        if amount is None or amount <= 0:
            return _error("amount")
        sums[str(side)] += amount
    if sums["debit"] != sums["credit"]:
        return _error("journal_unbalanced")
    reference = str(body.get("reference_number") or "")
    if len(reference) > 100:
        return _error("invalid", "reference_number")
    journal: dict[str, Any] = {
        "journal_id": state.new_id(),
        "entry_number": str(len(state.journals) + 1),
        "journal_date": day.isoformat(),
        "reference_number": reference,
        "notes": str(body.get("notes") or ""),
        "line_items": lines,
        "total": sums["debit"],
    }
    state.journals[journal["journal_id"]] = journal
    return _json({"code": 0, "message": "The journal has been created.", "journal": journal}, 201)


async def get_journal(request: web.Request) -> web.Response:
    journal = request.app[STATE].journals.get(request.match_info["journal_id"])
    if journal is None:
        return _error("not_found")
    return _json({"code": 0, "message": "success", "journal": journal})
