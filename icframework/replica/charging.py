"""Charging: the subnet's cycles policy applied to its canisters' balances.

How it works: fees come from the `FeeSchedule` (`replica.cycles`); this module decides
when they are taken. Inducting an ingress message costs its induction fee (refused,
not charged, when the balance cannot pay it). Before a message executes, the fee for
its whole instruction limit is prepaid (`prepay`); afterwards the unused part is
refunded (`settle`). A message is refused when it would leave the canister below its
freezing threshold (`frozen_reject`). Memory and compute allocation are charged by
elapsed time, at most every `STORAGE_CHARGE_INTERVAL_NS` (`charge_storage`), at the
end of a round. Amounts are cycles, times nanoseconds.
"""

from __future__ import annotations

from icframework.core import ErrorCode, RejectCode
from icframework.replica.canisters import Canisters, canister_text
from icframework.replica.cycles import FeeSchedule
from icframework.replica.errors import CanisterError
from icframework.replica.messages import RejectInfo
from icframework.replica.state import CanisterState

NANOS = 1_000_000_000
STORAGE_CHARGE_INTERVAL_NS = 10 * NANOS


class Charging:
    """Takes and refunds the fees of ``canisters`` (see the module docstring)."""

    def __init__(self, canisters: Canisters, fees: FeeSchedule) -> None:
        self.canisters = canisters
        self.fees = fees

    def _wasm64(self, canister_id: bytes) -> bool:
        sandbox = self.canisters.sandboxes.get(canister_id)
        return bool(sandbox and sandbox.module.memory64)

    def induct(self, canister_id: bytes, message_bytes: int) -> RejectInfo | None:
        """Take the induction fee of an ingress message; the reject if the canister cannot
        pay it (nothing is taken then)."""
        state = self.canisters.states[canister_id]
        fee = self.fees.ingress_induction(message_bytes)
        if state.cycles < fee:
            return out_of_cycles(canister_id, fee, state)
        state.cycles -= fee
        state.cycles_consumed += fee
        self.canisters.mark_dirty(canister_id)
        return None

    def prepay(self, canister_id: bytes, limit: int) -> bool:
        """Take the fee of ``limit`` instructions up front; False if the balance cannot."""
        state = self.canisters.states[canister_id]
        cost = self.fees.execution_prepayment(limit, self._wasm64(canister_id))
        if state.cycles < cost:
            return False
        state.cycles -= cost
        self.canisters.mark_dirty(canister_id)
        return True

    def settle(self, canister_id: bytes, prepaid_limit: int, instructions: int) -> None:
        """Refund the unused part of a prepayment for ``prepaid_limit`` (0: nothing was
        prepaid, so the fee is taken now, down to a zero balance)."""
        state = self.canisters.states[canister_id]
        wasm64 = self._wasm64(canister_id)
        used = self.fees.execution(instructions, wasm64)
        if prepaid_limit:
            state.cycles += self.fees.execution_prepayment(prepaid_limit, wasm64) - used
        else:
            state.cycles = max(0, state.cycles - used)
        state.cycles_consumed += used

    def refund_response(self, state: CanisterState, response_bytes: int, refund: int) -> None:
        """Return the unused response reservation and the cycles a response carries back."""
        state.cycles += self.fees.response_refund(response_bytes) + refund

    def frozen_reject(self, canister_id: bytes, needed: int) -> RejectInfo | None:
        """The reject for a message needing ``needed`` cycles above the freezing threshold,
        or None if the canister has them."""
        state = self.canisters.states[canister_id]
        threshold = self.canisters.freezing_threshold(canister_id)
        if state.cycles < threshold + needed:
            return out_of_cycles(canister_id, threshold + needed, state)
        return None

    def check_not_frozen(self, canister_id: bytes, needed: int) -> None:
        """Raise `CanisterError` IC0207 where `frozen_reject` would reject."""
        reject = self.frozen_reject(canister_id, needed)
        if reject is not None:
            raise CanisterError(ErrorCode.CANISTER_OUT_OF_CYCLES, reject.message)

    def charge_storage(self, now_ns: int) -> None:
        """Charge memory and compute allocation for the time since each canister's last charge."""
        for canister_id, state in self.canisters.states.items():
            elapsed = now_ns - state.storage_charged_ns
            if elapsed < STORAGE_CHARGE_INTERVAL_NS:
                continue
            memory = max(self.canisters.memory_usage(canister_id),
                         state.settings.memory_allocation)
            cost = self.fees.storage(memory, elapsed / NANOS)
            cost += (state.settings.compute_allocation
                     * self.fees.compute_percent_allocated_per_second * elapsed // NANOS)
            charged = min(cost, state.cycles)
            state.cycles -= charged
            state.cycles_consumed += charged
            state.storage_charged_ns = now_ns
            self.canisters.mark_dirty(canister_id)


def out_of_cycles(canister_id: bytes, needed: int, state: CanisterState) -> RejectInfo:
    """The IC0207 reject of a canister that lacks ``needed`` cycles."""
    return RejectInfo(
        RejectCode.SYS_TRANSIENT,
        f"Canister {canister_text(canister_id)} is out of cycles: please top up the canister "
        f"with at least {max(0, needed - state.cycles)} additional cycles",
        ErrorCode.CANISTER_OUT_OF_CYCLES,
    )
