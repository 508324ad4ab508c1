"""reconcile_credit: a seeded set of bank credits against open invoices matches exactly as expected."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from connectors.zoho_books.matching import Credit, Customer, OpenInvoice, decide, referenced
from hub.errors import PermanentError

from .conftest import Kit

CUSTOMERS = [
    ("Asha Traders", "asha@ashatraders.in", "9845000001"),
    ("Bharat Steel Works", "accounts@bharatsteel.in", "9845000002"),
    ("Chennai Silks Emporium", "billing@chennaisilks.in", "9845000003"),
    ("Deccan Pharma LLP", "deccanpay@deccanpharma.in", "9845000004"),
    ("Everest Logistics", "everest@everestlog.in", "9845000005"),
    ("Fortune Foods", "fortunefin@fortunefoods.in", "9845000006"),
    ("Ganga Textiles", "gangatex@gangatextiles.in", "9845000007"),
    ("Himalaya Agencies", "himagency@himalaya.in", "9845000008"),
    ("Indus Motors", "indusmotors@indus.in", "9845000009"),
    ("Jaipur Handicrafts", "jaipurcraft@jaipur.in", "9845000010"),
]
STRANGERS = ["RAMESH KUMAR", "SUNITA DEVI", "XYZ CONSULTANTS", "PRAKASH NAIR", "ZENITH INFRA"]


@dataclass
class Case:
    """One credit and what must come of it."""

    kind: str
    credit: dict[str, Any]
    status: str
    rule: str | None = None
    applied: list[tuple[str, Decimal]] = field(default_factory=list)  # (invoice number, amount)
    charges: Decimal = Decimal(0)
    reason: str = ""
    candidate: str | None = None  # an invoice number that must be among the candidates


def credit(
    rng: random.Random,
    amount: Decimal,
    narration: str = "",
    name: str | None = None,
    vpa: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    utr = f"N{rng.randrange(10**15, 10**16)}"
    return {
        "amount": str(amount),
        "booked_on": "2026-11-21",
        "reference": {"utr": utr, "rrn": None, "cheque": None, "bank_reference": None},
        "counterparty": {"name": name, "vpa": vpa, "account": None, "ifsc": None},
        "narration": narration or f"NEFT-{utr}-{name or 'UNKNOWN'}",
        **options,
    }


async def build(kit: Kit, seed: int = 20261122) -> list[Case]:
    """Ten customers, 8 open invoices each, and 52 credits with their expected outcome."""
    rng = random.Random(seed)
    ids: dict[str, str] = {}
    for name, email, phone in CUSTOMERS:
        made = await kit.contact(name, contact_name=name, email=email, phone=phone)
        ids[name] = str(made["contact_id"])
    pool: dict[str, list[dict[str, Any]]] = {}
    issued: dict[str, list[Decimal]] = {}
    amounts: set[Decimal] = set()
    number = 0
    for name, _, _ in CUSTOMERS:
        pool[name] = []
        issued[name] = []
        for _ in range(8):
            amount = Decimal(rng.randrange(50_000, 5_000_000)) / 100
            while amount in amounts:
                amount += Decimal("1.01")
            amounts.add(amount)
            issued[name].append(amount)
            number += 1
            body = {
                "customer_id": ids[name],
                "date": f"2026-10-{number % 28 + 1:02d}",
                "reference_number": f"SO-{70000 + number}",
                "line_items": [{"name": "Goods", "rate": str(amount)}],
            }
            resp = await kit.session.request("POST", "/books/v3/invoices", json_body=body)
            invoice = resp.json()["invoice"]
            pool[name].append(
                {"number": invoice["invoice_number"], "ref": body["reference_number"],
                 "balance": amount}
            )  # fmt: skip
    for invoices in pool.values():
        rng.shuffle(invoices)

    def take(name: str) -> dict[str, Any]:
        return pool[name].pop()

    cases: list[Case] = []
    names = [c[0] for c in CUSTOMERS]
    emails = {c[0]: c[1] for c in CUSTOMERS}
    # (a) exact reference: invoice number or our SO number in the narration, any payer name.
    for i in range(12):
        name = names[i % 10]
        inv = take(name)
        token = inv["number"] if i % 2 else inv["ref"]
        text = f"NEFT/{rng.randrange(10**9)}/PAYMENT AGAINST {token.replace('-', '')}/HDFC"
        if i % 3 == 0:
            text = f"UPI/{rng.randrange(10**11)}/{token}/paid"
        cases.append(
            Case("reference", credit(rng, inv["balance"], text, rng.choice(STRANGERS)),
                 "matched", "reference", [(inv["number"], inv["balance"])])
        )  # fmt: skip
    # (b) exact amount, payer known by name (with noise words) or by VPA.
    for i in range(10):
        name = names[i]
        inv = take(name)
        if i % 2:
            who = {"name": f"M/S {name.upper()} PVT LTD"}
        else:
            who = {"name": "UPI PAYER", "vpa": f"{emails[name].split('@')[0]}@okhdfcbank"}
        cases.append(
            Case("amount", credit(rng, inv["balance"], "", **who), "matched", "amount",
                 [(inv["number"], inv["balance"])])
        )  # fmt: skip
    # (d) partial payment of a referenced invoice.
    for i in range(6):
        name = names[(i + 3) % 10]
        inv = take(name)
        part = (inv["balance"] * Decimal("0.4")).quantize(Decimal("0.01"))
        text = f"IMPS/{rng.randrange(10**9)}/PART PAYMENT {inv['number']}"
        cases.append(
            Case("partial", credit(rng, part, text, name), "matched", "partial",
                 [(inv["number"], part)])
        )  # fmt: skip
    # (c) one credit paying two invoices of one customer: by amount, and by two references.
    for i in range(4):
        name = names[(i + 5) % 10]
        a, b = take(name), take(name)
        total = a["balance"] + b["balance"]
        text = f"{a['number']} AND {b['number']}" if i % 2 else ""
        cases.append(
            Case("multi", credit(rng, total, text, name.upper()), "matched", "multi",
                 sorted([(a["number"], a["balance"]), (b["number"], b["balance"])]))
        )  # fmt: skip
    # Fee-netted gateway credits (2% fee + 18% GST on it): with a tolerance they match and the
    # fee becomes bank charges; without one they wait for review with the invoice as candidate.
    for i in range(8):
        name = names[(i + 1) % 10]
        inv = take(name)
        fee = (inv["balance"] * Decimal("0.0236")).quantize(Decimal("0.01"))
        text = f"RAZORPAY SETTLEMENT {name.upper()} setl_{rng.randrange(10**8)}"
        net = inv["balance"] - fee
        tolerance = fee + 1
        near = [b for b in issued[name] if 0 < b - net <= tolerance]
        if i % 2 and len(near) == 1:
            cases.append(
                Case("fee-netted", credit(rng, net, text, name, tolerance=str(tolerance)),
                     "matched", "amount", [(inv["number"], inv["balance"])], charges=fee)
            )  # fmt: skip
        elif i % 2:  # another invoice of theirs is as close: ambiguous, so review
            cases.append(
                Case("fee-netted", credit(rng, net, text, name, tolerance=str(tolerance)),
                     "review", reason="are within the tolerance", candidate=inv["number"])
            )  # fmt: skip
        else:
            cases.append(
                Case("fee-netted", credit(rng, net, text, name), "review",
                     reason=f"no open invoice (or set of them) of {name}",
                     candidate=inv["number"])
            )  # fmt: skip
    # No confident match: strangers with random amounts, or with an open invoice's exact
    # amount (same amount, unknown customer: candidates, not a write).
    for i in range(10):
        stranger = STRANGERS[i % len(STRANGERS)]
        if i % 2:
            inv = pool[names[i]][0]  # left open
            cases.append(
                Case("none", credit(rng, inv["balance"], "", stranger), "review",
                     reason="matches no customer", candidate=inv["number"])
            )  # fmt: skip
        else:
            amount = Decimal(rng.randrange(100, 9_999)) + Decimal("0.37")
            cases.append(
                Case("none", credit(rng, amount, "", stranger), "review",
                     reason="matches no customer")
            )  # fmt: skip
    # More than the referenced invoice's balance; invoices of two customers named.
    big = pool[names[0]][0]
    cases.append(
        Case("none", credit(rng, big["balance"] + 100, f"INV {big['number']}", "X"), "review",
             reason="exceeds the balance", candidate=big["number"])
    )  # fmt: skip
    x, y = pool[names[1]][0], pool[names[2]][0]
    cases.append(
        Case("none", credit(rng, x["balance"] + y["balance"], f"{x['number']} {y['number']}"),
             "review", reason="different customers", candidate=x["number"])
    )  # fmt: skip
    rng.shuffle(cases)
    return cases


async def test_fifty_two_credits_match_exactly_as_expected(kit: Kit) -> None:
    cases = await build(kit)
    matched = sum(c.status == "matched" for c in cases)
    assert len(cases) == 52 and matched == 35  # one fee-netted credit is ambiguous
    for i, case in enumerate(cases):
        out = await kit.reconcile(f"bank-line-{i}", **case.credit)
        label = f"case {i} ({case.kind}): {case.credit} -> {out}"
        assert out["status"] == case.status, label
        if case.status == "matched":
            assert out["rule"] == case.rule, label
            applied = sorted(
                (a["invoice_number"], Decimal(a["amount_applied"])) for a in out["invoices"]
            )
            assert applied == case.applied, label
            assert Decimal(out["bank_charges"]) == case.charges, label
            assert Decimal(out["amount"]) == Decimal(case.credit["amount"]) + case.charges
        else:
            assert case.reason in out["reason"], label
            assert "payment_id" not in out
            numbers = [c["invoice_number"] for c in out["candidates"]]
            if case.candidate:
                assert case.candidate in numbers, label
            for cand in out["candidates"]:
                assert set(cand) == {"invoice_id", "invoice_number", "customer", "balance",
                                     "score", "why"} and cand["why"]  # fmt: skip
    state = await kit.state()
    payments = state["payments"]
    assert len(payments) == matched
    assert all("match:" in p["description"] and "UTR N" in p["description"] for p in payments)
    by_number = {inv["invoice_number"]: inv for inv in state["invoices"]}
    for case in cases:
        for number, _ in case.applied:
            inv = by_number[number]
            if case.rule == "partial":
                assert inv["status"] == "partially_paid" and inv["balance"] > 0
            else:
                assert inv["status"] == "paid" and inv["balance"] == 0, (case.kind, inv)


async def test_same_credit_twice_records_one_payment(kit: Kit) -> None:
    cases = [c for c in await build(kit, seed=7) if c.status == "matched"]
    case = next(c for c in cases if c.rule == "multi")
    first = await kit.reconcile("line-1", **case.credit)
    second = await kit.reconcile("line-1", **case.credit)
    assert first["created"] and not second["created"]
    assert {**first, "created": False} == second
    assert len((await kit.state())["payments"]) == 1


async def test_match_by_limits_the_rules(kit: Kit) -> None:
    cases = await build(kit, seed=11)
    case = next(c for c in cases if c.kind == "partial")
    out = await kit.reconcile("p", **{**case.credit, "match_by": ["reference"]})
    assert out["status"] == "review" and case.applied[0][0] in out["reason"]
    assert (await kit.state())["payments"] == []


def test_ambiguous_amounts_go_to_review() -> None:
    inv = [
        OpenInvoice(str(n), f"INV-{n}", "", "c1", "Asha Traders", Decimal("500.00"), f"d{n}")
        for n in range(3)
    ]
    who = [Customer("c1", "Asha Traders")]
    same = decide(Credit(Decimal("500.00"), name="ASHA TRADERS"), inv, who)
    assert same.status == "review" and "3 open invoices" in same.reason
    four = [
        OpenInvoice(n, f"INV-{n}", "", "c1", "Asha", Decimal(v), n)
        for n, v in (("a", 300), ("b", 700), ("c", 400), ("d", 600))
    ]
    pairs = decide(Credit(Decimal("1000.00"), name="ASHA TRADERS"), four, who)
    assert pairs.status == "review" and "several sets" in pairs.reason
    two = [Customer("c1", "Asha Traders"), Customer("c2", "Asha Traders Retail")]
    both = decide(Credit(Decimal("500.00"), name="Asha Traders"), inv, two)
    assert both.status == "review" and "several customers" in both.reason


def test_reference_tokens_do_not_match_inside_longer_numbers() -> None:
    inv = OpenInvoice("1", "INV-000007", "SO-70007", "c", "C", Decimal(1))
    assert referenced(Credit(Decimal(1), narration="paid INV000007"), [inv])
    assert referenced(Credit(Decimal(1), narration="ref so 70007"), [inv])
    assert not referenced(Credit(Decimal(1), narration="INV-0000071"), [inv])
    assert not referenced(Credit(Decimal(1), narration="XINV-000007"), [inv])


async def test_record_payment_refuses_over_application(kit: Kit) -> None:
    made = await kit.contact(contact_name="Asha Traders", email="asha@example.in")
    customer = str(made["contact_id"])
    resp = await kit.session.request(
        "POST", "/books/v3/invoices",
        json_body={"customer_id": customer, "line_items": [{"name": "x", "rate": 500}]},
    )  # fmt: skip
    invoice_id = resp.json()["invoice"]["invoice_id"]
    base = {"customer_id": customer, "date": "2026-11-20"}
    with pytest.raises(PermanentError, match="applies 600 to invoices but is only 500"):
        await kit.pay(
            "p1", **base, amount="500",
            invoices=[{"invoice_id": invoice_id, "amount_applied": "600"}],
        )  # fmt: skip
    with pytest.raises(PermanentError, match="its balance is 500"):
        await kit.pay(
            "p2", **base, amount="900",
            invoices=[{"invoice_id": invoice_id, "amount_applied": "600"}],
        )  # fmt: skip
    assert await kit.calls("POST /books/v3/customerpayments") == 0
    await kit.pay(
        "p3", **base, amount="500", invoices=[{"invoice_id": invoice_id, "amount_applied": "500"}]
    )
    assert (await kit.state())["invoices"][0]["status"] == "paid"
