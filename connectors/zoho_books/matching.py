"""Matching one bank credit to open Books invoices (pure: no I/O), for ``reconcile_credit``.

Rules, tried in this order; the first that decides wins:

``reference``
    An open invoice's ``invoice_number`` (or a ``reference_number`` of 6+
    characters) appears in the narration, UTR, RRN or bank reference as a
    whole token (separators optional: ``INV000123`` finds ``INV-000123``).
    One invoice and the credit equals its balance -> apply it all. Several
    invoices of one customer whose balances sum to the credit -> ``multi``.
``partial``
    One referenced invoice whose balance exceeds the credit -> apply the credit.
``amount``
    No reference: the counterparty identifies exactly one customer (normalized
    name contains/equals the contact's; or the VPA holds the contact's email
    local part or phone) and exactly one of that customer's open invoices has
    a balance equal to the credit.
``multi``
    That customer's open invoices (oldest 12 at most) have exactly one subset
    of two or more whose balances sum to the credit.

With ``tolerance`` > 0, a credit short of a balance by at most the tolerance
(a gateway fee netted off) matches too; the shortfall is recorded as bank charges.

Anything else is ``review``: no payment is written; the result lists
candidates with a score and why, and the reason nothing was matched.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

__all__ = [
    "RULES",
    "Application",
    "Credit",
    "Customer",
    "Decision",
    "OpenInvoice",
    "Rule",
    "decide",
    "identify_customers",
    "referenced",
]

Rule = Literal["reference", "amount", "multi", "partial"]
RULES: tuple[Rule, ...] = ("reference", "amount", "multi", "partial")
MAX_SUBSET = 12  # invoices searched for a multi-invoice credit (2^12 subsets at most)
MAX_CANDIDATES = 5
NEAR = Decimal("0.05")  # a candidate's balance within 5% of the credit
_NOISE = frozenset({"m", "s", "ms", "mr", "mrs", "the", "and", "pvt", "private", "ltd",
                    "limited", "llp", "co", "inc", "india", "enterprises"})  # fmt: skip


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice with money still owed."""

    invoice_id: str
    invoice_number: str
    reference_number: str
    customer_id: str
    customer_name: str
    balance: Decimal
    date: str = ""


@dataclass(frozen=True)
class Customer:
    """What a Books contact offers for recognising a payer."""

    contact_id: str
    name: str
    email: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Credit:
    """The bank credit's fields that matter for matching."""

    amount: Decimal
    narration: str = ""
    utr: str = ""
    rrn: str = ""
    bank_reference: str = ""
    name: str = ""
    vpa: str = ""


@dataclass(frozen=True)
class Application:
    """Part of the credit applied to one invoice."""

    invoice: OpenInvoice
    amount: Decimal


@dataclass
class Decision:
    """``matched`` (with rule and applications) or ``review`` (with reason and candidates)."""

    status: Literal["matched", "review"]
    rule: Rule | None = None
    applications: list[Application] = field(default_factory=list)
    bank_charges: Decimal = Decimal(0)
    reason: str = ""
    candidates: list[dict[str, object]] = field(default_factory=list)

    @property
    def customer_id(self) -> str:
        return self.applications[0].invoice.customer_id if self.applications else ""

    @property
    def payment_amount(self) -> Decimal:
        """What the customer paid: the credit plus any fee netted off (bank charges)."""
        return sum((a.amount for a in self.applications), Decimal(0))


def _token_pattern(ref: str) -> re.Pattern[str]:
    parts = [re.escape(c) if c.isalnum() else "[^A-Z0-9]?" for c in ref.upper()]
    return re.compile(r"(?<![A-Z0-9])" + "".join(parts) + r"(?![A-Z0-9])")


def referenced(credit: Credit, invoices: Iterable[OpenInvoice]) -> list[OpenInvoice]:
    """Invoices whose number (or long reference) appears as a token in the credit's texts."""
    text = " ".join((credit.narration, credit.utr, credit.rrn, credit.bank_reference)).upper()
    found = []
    for inv in invoices:
        refs = [inv.invoice_number]
        if len(inv.reference_number) >= 6:
            refs.append(inv.reference_number)
        if any(r and _token_pattern(r).search(text) for r in refs):
            found.append(inv)
    return found


def _name_key(name: str) -> str:
    words = re.findall(r"[a-z0-9]+", name.lower())
    return "".join(w for w in words if w not in _NOISE)


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def identify_customers(credit: Credit, customers: Iterable[Customer]) -> list[Customer]:
    """Customers the counterparty could be: by normalized name, or by VPA (email local part/phone)."""
    payer = _name_key(credit.name)
    vpa_local = credit.vpa.lower().split("@", 1)[0]
    found = []
    for customer in customers:
        key = _name_key(customer.name)
        short = min(len(key), len(payer))
        by_name = short >= 4 and (key in payer or payer in key)
        local = customer.email.lower().split("@", 1)[0]
        phone = _digits(customer.phone)[-10:]
        by_vpa = bool(vpa_local) and (
            (len(local) >= 3 and local in vpa_local)
            or (len(phone) == 10 and phone in _digits(vpa_local))
        )
        if by_name or by_vpa:
            found.append(customer)
    return found


def _subsets(invoices: Sequence[OpenInvoice], amount: Decimal) -> list[tuple[OpenInvoice, ...]]:
    pool = sorted(invoices, key=lambda i: (i.date, i.invoice_number))[:MAX_SUBSET]
    hits: list[tuple[OpenInvoice, ...]] = []
    for size in range(2, len(pool) + 1):
        for combo in itertools.combinations(pool, size):
            if sum((i.balance for i in combo), Decimal(0)) == amount:
                hits.append(combo)
                if len(hits) > 1:
                    return hits
    return hits


def _matched(rule: Rule, apps: list[Application], charges: Decimal = Decimal(0)) -> Decision:
    return Decision("matched", rule=rule, applications=apps, bank_charges=charges)


def _candidates(
    credit: Credit,
    invoices: Sequence[OpenInvoice],
    refs: Sequence[OpenInvoice],
    customer_ids: set[str],
) -> list[dict[str, object]]:
    scored = []
    ref_ids = {i.invoice_id for i in refs}
    for inv in invoices:
        why, score = [], Decimal(0)
        if inv.invoice_id in ref_ids:
            why.append("referenced in the narration")
            score += Decimal("0.5")
        if inv.customer_id in customer_ids:
            why.append("counterparty looks like this customer")
            score += Decimal("0.3")
        diff = inv.balance - credit.amount
        if diff == 0:
            why.append("balance equals the credit")
            score += Decimal("0.4")
        elif inv.balance and abs(diff) <= inv.balance * NEAR:
            side = "exceeds" if diff > 0 else "is short of"
            why.append(f"balance {side} the credit by {abs(diff)}")
            score += Decimal("0.2")
        if not why:
            continue
        scored.append((min(score, Decimal(1)), abs(diff), inv, why))
    scored.sort(key=lambda row: (-row[0], row[1], row[2].invoice_number))
    return [
        {
            "invoice_id": inv.invoice_id,
            "invoice_number": inv.invoice_number,
            "customer": inv.customer_name,
            "balance": str(inv.balance),
            "score": float(score),
            "why": "; ".join(why),
        }
        for score, _, inv, why in scored[:MAX_CANDIDATES]
    ]


def decide(
    credit: Credit,
    invoices: Sequence[OpenInvoice],
    customers: Sequence[Customer],
    *,
    tolerance: Decimal = Decimal(0),
    rules: Sequence[Rule] = RULES,
) -> Decision:
    """Match one credit to open invoices by the module's rules, or say why not."""
    refs = referenced(credit, invoices)
    who = identify_customers(credit, customers)
    who_ids = {c.contact_id for c in who}

    def review(reason: str) -> Decision:
        cands = _candidates(credit, invoices, refs, who_ids)
        return Decision("review", reason=reason, candidates=cands)

    if refs:
        owners = {i.customer_id for i in refs}
        if len(owners) > 1:
            return review("the narration names invoices of different customers")
        if len(refs) == 1:
            inv = refs[0]
            short = inv.balance - credit.amount
            if short == 0 and "reference" in rules:
                return _matched("reference", [Application(inv, inv.balance)])
            if 0 < short <= tolerance and "reference" in rules:
                return _matched("reference", [Application(inv, inv.balance)], short)
            if short > 0 and "partial" in rules:
                return _matched("partial", [Application(inv, credit.amount)])
            if short < 0:
                return review(
                    f"the credit {credit.amount} exceeds the balance {inv.balance} of "
                    f"{inv.invoice_number}, the invoice it names"
                )
            return review(f"{inv.invoice_number} is named but rule(s) {list(rules)} exclude it")
        total = sum((i.balance for i in refs), Decimal(0))
        if total == credit.amount and "multi" in rules:
            return _matched("multi", [Application(i, i.balance) for i in refs])
        numbers = ", ".join(i.invoice_number for i in refs)
        return review(f"the credit {credit.amount} is not the balances ({total}) of {numbers}")

    if not who:
        return review("no invoice is referenced and the counterparty matches no customer")
    if len(who) > 1:
        names = ", ".join(sorted(c.name for c in who))
        return review(f"the counterparty could be several customers: {names}")
    customer = who[0]
    own = [i for i in invoices if i.customer_id == customer.contact_id]
    if not own:
        return review(f"{customer.name} has no open invoices")
    exact = [i for i in own if i.balance == credit.amount]
    if len(exact) == 1 and "amount" in rules:
        return _matched("amount", [Application(exact[0], exact[0].balance)])
    if len(exact) > 1:
        return review(
            f"{len(exact)} open invoices of {customer.name} have the balance {credit.amount}"
        )
    if "multi" in rules:
        combos = _subsets(own, credit.amount)
        if len(combos) == 1:
            return _matched("multi", [Application(i, i.balance) for i in combos[0]])
        if len(combos) > 1:
            return review(f"several sets of {customer.name}'s invoices add up to {credit.amount}")
    near = [i for i in own if 0 < i.balance - credit.amount <= tolerance]
    if len(near) == 1 and "amount" in rules:
        inv = near[0]
        return _matched("amount", [Application(inv, inv.balance)], inv.balance - credit.amount)
    if len(near) > 1:
        return review(
            f"{len(near)} open invoices of {customer.name} are within the tolerance of "
            f"{tolerance} above {credit.amount}"
        )
    return review(
        f"no open invoice (or set of them) of {customer.name} matches {credit.amount}"
        + (f" within a tolerance of {tolerance}" if tolerance else "")
    )
