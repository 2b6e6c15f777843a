"""Usage and cost, one home for send, local batch and remote batch: the flat counts a
reply reports (`usage` in the current API, `meta` in older pages), their running total,
the token total of a summary, and the cost in USD from the profile's prices."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

USAGE_FIELDS = (
    ("input_tokens", "tokens", "input_tokens"),
    ("output_tokens", "tokens", "output_tokens"),
    # a reasoning model's thinking: a part of output_tokens (recorded replies: never more),
    # shown on its own and priced once, as output
    ("reasoning_tokens", "tokens", "reasoning_tokens"),
    ("billed_input_tokens", "billed_units", "input_tokens"),
    ("billed_output_tokens", "billed_units", "output_tokens"),
)
PER_MILLION = 1_000_000
MICRODOLLAR = "0.000001"  # cost_usd is rounded (half up) to a millionth of a dollar


def _whole(value: Any) -> Any:
    whole = isinstance(value, float) and value.is_integer() and abs(value) < 2**63
    return int(value) if whole else value


@dataclass(frozen=True)
class Prices:
    """USD per million billed tokens (`price_input`, `price_output` in the config)."""

    input: float
    output: float

    def cost(self, counts: dict[str, Any]) -> float | None:
        """The cost of flat counts: billed tokens, or input/output tokens when the API
        billed none; None when it counted nothing. Reasoning tokens are output tokens
        (both counts hold them): priced once, never added again."""
        billed = [counts.get(f"billed_{kind}_tokens") for kind in ("input", "output")]
        if billed == [None, None]:
            billed = [counts.get(f"{kind}_tokens") for kind in ("input", "output")]
        if billed == [None, None]:
            return None
        # not at the top: `decimal` is imported only when there are prices (start-up)
        from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

        try:  # in decimal: 6.5431975 is 6.543198, not the float's 6.543197
            usd = (Decimal(str(billed[0] or 0)) * Decimal(str(self.input))
                   + Decimal(str(billed[1] or 0)) * Decimal(str(self.output))) / PER_MILLION
            return float(usd.quantize(Decimal(MICRODOLLAR), ROUND_HALF_UP))
        except InvalidOperation:  # a count too big to price
            return None


def usage_counts(response: dict[str, Any], prices: Prices | None = None) -> dict[str, Any]:
    """The flat usage counts (--usage, batch result lines, the run log share them): token
    counts from `usage` (current API) or `meta` (older pages), whichever is there,
    `reasoning_tokens` and `cached_tokens` when the API sent them, and with `prices`
    `cost_usd`."""
    counts: dict[str, Any] = {}
    for holder in (response.get("usage"), response.get("meta")):
        if not isinstance(holder, dict):
            continue
        for name, group, key in USAGE_FIELDS:
            value = (holder.get(group) or {}).get(key)
            if name not in counts and isinstance(value, (int, float)):
                counts[name] = _whole(value)
        cached = holder.get("cached_tokens")
        if "cached_tokens" not in counts and isinstance(cached, (int, float)):
            counts["cached_tokens"] = _whole(cached)
    return with_cost(counts, prices)


def with_cost(counts: dict[str, Any], prices: Prices | None) -> dict[str, Any]:
    """`counts` with `cost_usd` (when there are prices and something was counted)."""
    counts = {name: value for name, value in counts.items() if name != "cost_usd"}
    cost = prices.cost(counts) if prices is not None else None
    return counts if cost is None else {**counts, "cost_usd": cost}


def add_usage(total: dict[str, Any], counts: dict[str, Any]) -> None:
    """Add flat counts to a running total (a turn's rounds, a batch's lines); the cost
    is made again from the total (`with_cost`)."""
    for name, value in counts.items():
        if name != "cost_usd" and isinstance(value, (int, float)):
            total[name] = _whole(total.get(name, 0) + value)


def token_total(counts: dict[str, Any]) -> int:
    """Input plus output tokens of flat counts, each falling back to its billed count
    when the reply reported only billed units; a value that is not a finite number
    counts nothing."""
    total = 0
    for name, billed in (("input_tokens", "billed_input_tokens"),
                         ("output_tokens", "billed_output_tokens")):
        value = counts.get(name, counts.get(billed, 0))
        if isinstance(value, (int, float)) and math.isfinite(value):
            total += int(value)
    return total
