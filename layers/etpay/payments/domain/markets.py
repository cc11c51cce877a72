"""The two markets ETpay serves, Chile (CLP) and Mexico (MXN), and what differs between them: the
session fields ETpay documents for one country only, the bank codes, the amounts. A stack serves
one market, chosen by its `Currency` parameter; everything currency-dependent is read from here,
so a stack's behaviour follows from its configuration alone. docs/ETPAY.md gives the sources.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Market:
    """A market ETpay serves (Chile, Mexico): its currency, its banks, its own session fields and amounts."""

    currency: str  # ISO 4217; ETpay's `merchant_currency` in the notifications
    country: str
    # ETpay's bank codes start with the country: `cl_estado`, `mx_...` (its SDK spells them in
    # upper case, `CL_TEST`, `MX_TEST`); a bank of the other country cannot pay this merchant.
    bank_code_prefix: str
    # Session fields ETpay documents for this country only; the other market refuses them.
    own_fields: frozenset[str]
    # `order_amount` is ETpay's: an integer of whole currency units (see docs/ETPAY.md, amounts).
    amount_unit: str
    # Largest order_amount a stack takes when MaxOrderAmount is left at 0. ETpay publishes no limit.
    default_max_order_amount: int


CHILE = Market(
    currency="CLP",
    country="Chile",
    bank_code_prefix="cl_",
    own_fields=frozenset({"user_rut", "is_rut_block"}),
    amount_unit="whole pesos",
    # A reseller that routes Chilean payments through ETpay lists CLP 1 to 7,000,000.
    default_max_order_amount=7_000_000,
)
MEXICO = Market(
    currency="MXN",
    country="Mexico",
    bank_code_prefix="mx_",
    own_fields=frozenset({"target_flow", "customer_phone"}),
    # ETpay documents order_amount as an integer and says nothing of centavos in Mexico: whole
    # pesos, so an amount with centavos cannot be sent (our assumption; docs/ETPAY.md).
    amount_unit="whole pesos",
    # ETpay publishes no limit. Mexico's banking rules cap CoDi payments at 1,500 UDIS (about
    # MXN 12,500) per operation and, unless the payers set a higher limit of their own (the CNBV's
    # "monto transaccional del usuario", from late 2025), app and online-banking transfers, SPEI
    # included, at the same amount: above it, most payers' banks refuse the transfer.
    default_max_order_amount=12_500,
)
MARKETS: dict[str, Market] = {market.currency: market for market in (CHILE, MEXICO)}
# Every field that belongs to one market only.
MARKET_FIELDS = frozenset().union(*(market.own_fields for market in MARKETS.values()))
# ETpay's Mexican payment flows (`target_flow`): CoDi (a payment request to the payer's phone, or
# a QR code) and SPEI (an interbank transfer).
TARGET_FLOWS = ("codi", "spei")


def market_for(currency: str) -> Market | None:
    return MARKETS.get(currency)


def market_of_field(name: str) -> Market | None:
    """The market whose own field `name` is, or None for a field every market takes."""
    return next((market for market in MARKETS.values() if name in market.own_fields), None)
