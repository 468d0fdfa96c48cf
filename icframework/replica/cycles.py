"""Cycle fees of a 13-node application subnet and the freezing-threshold arithmetic.

Figures follow the IC's ``CyclesAccountManagerConfig::application_subnet`` (see
docs/replica.md). All amounts are in cycles; sizes in bytes; durations in seconds
unless a name says ``_ns``. Fees scale linearly with the subnet size (``× n / 13``).
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024**3
DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The fee table; the defaults are the IC's for a 13-node application subnet."""

    subnet_size: int = 13
    canister_creation: int = 500_000_000_000
    update_message_execution: int = 5_000_000
    ten_update_instructions: int = 10
    ingress_message_reception: int = 1_200_000
    ingress_byte_reception: int = 2_000
    xnet_call: int = 260_000
    xnet_byte_transmission: int = 1_000
    gib_storage_per_second: int = 127_000
    compute_percent_allocated_per_second: int = 10_000_000
    http_request_linear_baseline: int = 3_000_000
    http_request_quadratic_baseline: int = 60_000
    http_request_per_byte: int = 400
    http_response_per_byte: int = 800
    sign_with_ecdsa: int = 10_000_000_000
    max_response_bytes: int = 2 * 1024 * 1024

    def _scale(self, amount: int) -> int:
        return amount * self.subnet_size // 13

    def ingress_induction(self, message_bytes: int) -> int:
        """Charged to the receiving canister when an ingress message is inducted."""
        return self._scale(
            self.ingress_message_reception + self.ingress_byte_reception * message_bytes
        )

    def execution(self, instructions: int, wasm64: bool = False) -> int:
        """Base fee plus instructions (Wasm64 instructions cost double)."""
        per_ten = self.ten_update_instructions * (2 if wasm64 else 1)
        return self._scale(self.update_message_execution + instructions * per_ten // 10)

    def execution_prepayment(self, instruction_limit: int, wasm64: bool = False) -> int:
        """Reserved before an update runs; the unused part is refunded afterwards."""
        return self.execution(instruction_limit, wasm64)

    def call(self, method_name_bytes: int, payload_bytes: int) -> int:
        """Charged to the caller when a call is performed (request and response)."""
        return self._scale(
            self.xnet_call + self.xnet_byte_transmission * (method_name_bytes + payload_bytes)
        )

    def response_reservation(self) -> int:
        """Reserved at call time for the largest possible response; refunded on arrival."""
        return self._scale(self.xnet_byte_transmission * self.max_response_bytes)

    def response_refund(self, response_bytes: int) -> int:
        """The part of `response_reservation` given back once a response of this size lands."""
        used = self._scale(self.xnet_byte_transmission * response_bytes)
        return max(0, self.response_reservation() - used)

    def create_canister(self) -> int:
        return self._scale(self.canister_creation)

    def storage(self, memory_bytes: int, seconds: float) -> int:
        """Cost of holding ``memory_bytes`` for ``seconds``."""
        return self._scale(int(memory_bytes * self.gib_storage_per_second * seconds // GIB))

    def idle_cycles_burned_per_day(self, memory_bytes: int, compute_allocation: int) -> int:
        """What a canister burns per day while idle (storage plus compute allocation)."""
        storage = memory_bytes * self.gib_storage_per_second * DAY_SECONDS // GIB
        compute = compute_allocation * self.compute_percent_allocated_per_second * DAY_SECONDS
        return self._scale(storage + compute)

    def freezing_threshold_cycles(
        self, memory_bytes: int, compute_allocation: int, freezing_threshold_seconds: int
    ) -> int:
        """The balance below which a canister is frozen."""
        per_day = self.idle_cycles_burned_per_day(memory_bytes, compute_allocation)
        return per_day * freezing_threshold_seconds // DAY_SECONDS

    def http_request(self, request_bytes: int, max_response_bytes: int) -> int:
        n = self.subnet_size
        return (
            (self.http_request_linear_baseline + self.http_request_quadratic_baseline * n) * n
            + (
                self.http_request_per_byte * request_bytes
                + self.http_response_per_byte * max_response_bytes
            )
            * n
        )

    def sign_with_ecdsa_cost(self) -> int:
        return self.sign_with_ecdsa
