"""What an invoice or note shows: plain, already formatted values for the templates.

The billing stage computes exact amounts; this model is what every presentation (the
terminal table, JSON, HTML, PDF) reads, so that all of them show the same numbers.
Amounts are strings formatted once, with their decimals fixed (``"12.3456"``,
``"-3.00"``); a template never does arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Party:
    """The issuer or the customer. ``address`` lines are split on commas when printed."""

    name: str
    address: str = ""
    email: str = ""
    vat_id: str = ""
    account: str = ""


@dataclass(frozen=True)
class Line:
    """One line of the invoice.

    ``kind``: ``usage`` (calls of one destination in one band), ``allowance`` (free
    usage taken, a negative amount), ``fee`` (recurring or one-off), ``commitment``
    (top-up to the minimum monthly commitment). ``quantity`` and ``unit`` describe what
    is counted (``"123.5"`` ``"min"``; ``"1"`` ``"month"``; ``"17/31"`` ``"days"``).
    ``tax_rate`` is ``"19 %"``, or ``""`` when the line is not taxable.
    """

    kind: str
    description: str
    amount: str
    detail: str = ""
    calls: int | None = None
    quantity: str = ""
    unit: str = ""
    tax_rate: str = ""


@dataclass(frozen=True)
class BandRow:
    """Usage of one band: the summary by band."""

    band: str
    calls: int
    minutes: str
    amount: str


@dataclass(frozen=True)
class TaxRow:
    """Tax of one rate: ``amount`` is ``base * rate`` rounded half-up to the currency."""

    rate: str
    base: str
    amount: str


@dataclass(frozen=True)
class CallRow:
    """One call of the itemised appendix; the caller is masked but for its last digits."""

    start: str
    caller: str
    number: str
    destination: str
    band: str
    duration: str
    billable_s: str
    allowance_s: str
    charge: str


@dataclass(frozen=True)
class InvoiceDocument:
    """Everything one invoice (or credit or debit note) shows.

    ``kind``: ``invoice`` | ``credit_note`` | ``debit_note``; ``status``: ``draft`` |
    ``final`` | ``void``. A draft has no ``number``. Notes cite ``refers_to`` (the
    original invoice's number) and a ``reason``. ``calls`` is ``None`` when the account
    has no itemised appendix.
    """

    kind: str
    status: str
    number: str | None
    account: str
    period: str
    period_label: str
    period_start: str
    period_end: str
    issued_on: str
    due_on: str
    currency: str
    issuer: Party
    customer: Party
    usage: list[Line] = field(default_factory=list)
    bands: list[BandRow] = field(default_factory=list)
    allowances: list[Line] = field(default_factory=list)
    fees: list[Line] = field(default_factory=list)
    adjustments: list[Line] = field(default_factory=list)
    subtotal: str = "0.00"
    taxes: list[TaxRow] = field(default_factory=list)
    tax: str = "0.00"
    rounding: str = ""
    total: str = "0.00"
    refers_to: str | None = None
    reason: str = ""
    calls: list[CallRow] | None = None
    void_reason: str = ""

    @property
    def title(self) -> str:
        name = {"invoice": "Invoice", "credit_note": "Credit note", "debit_note": "Debit note"}
        return ("Draft " + name[self.kind].lower()) if self.status == "draft" else name[self.kind]


@dataclass(frozen=True)
class DisputeRow:
    """One changed call: before and after (empty strings where it was not rated)."""

    call_id: str
    start: str
    number: str
    prefix_before: str
    band_before: str
    billable_before: str
    charge_before: str
    prefix_after: str
    band_after: str
    billable_after: str
    charge_after: str
    difference: str


@dataclass(frozen=True)
class DisputeDocument:
    """The dispute report of one account and period: every changed call and the totals.

    ``billed`` is what the customer was invoiced (invoice plus earlier notes),
    ``rerated`` what the corrected sheets bill, ``difference`` the note that settles it.
    """

    account: str
    period: str
    period_label: str
    currency: str
    issuer: Party
    customer: Party
    invoice: str | None
    sheets_before: str
    sheets_after: str
    prepared_on: str
    billed: str
    rerated: str
    difference: str
    calls_difference: str
    rows: list[DisputeRow] = field(default_factory=list)
