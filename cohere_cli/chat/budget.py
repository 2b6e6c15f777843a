"""--max-cost USD (config `max_cost`): a budget for one run of `send` (its tool rounds
and --fit tries) or of local `batch` (its lines).

No new request starts once the cost of the finished ones, from the usage the API
reports and the profile's prices (chat/usage.py), has reached the budget: `check`
raises BudgetError (exit 11). Requests already under way finish (in a batch, up to one
a worker), so a run may end a little over it. Thread-safe: a batch's workers share one.
"""
from __future__ import annotations

import threading
from typing import Any

from cohere_cli.base.errors import BudgetError
from cohere_cli.chat.usage import Prices, usage_counts


class Budget:
    """What a run may spend, and what its finished requests cost so far."""

    def __init__(self, limit: float, prices: Prices) -> None:
        from decimal import Decimal  # only with --max-cost: a plain send imports no decimal

        self.limit, self.prices = limit, prices
        self._decimal = Decimal
        self._spent = Decimal(0)
        self._lock = threading.Lock()

    @property
    def spent(self) -> float:
        with self._lock:
            return float(self._spent)

    def reached(self) -> bool:
        with self._lock:
            return self._spent >= self._decimal(str(self.limit))

    def check(self) -> None:
        """Before a request: BudgetError when the budget is spent."""
        if self.reached():
            raise self.error()

    def error(self) -> BudgetError:
        return BudgetError(f"the budget is spent: the finished requests cost "
                           f"{self.spent:.6g} USD of --max-cost {self.limit:g}; no new "
                           "request was started")

    def add(self, counts: dict[str, Any]) -> None:
        """A finished request's flat usage counts (chat/usage.py)."""
        cost = self.prices.cost(counts)
        if cost is not None:
            with self._lock:
                self._spent += self._decimal(str(cost))

    def add_response(self, response: dict[str, Any]) -> None:
        self.add(usage_counts(response))
