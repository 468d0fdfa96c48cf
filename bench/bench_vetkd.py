"""vetKD cost: the BLS12-381 work on the host, the management canister's handlers, and
``vetkd_public_key`` / ``vetkd_derive_key`` through a Python canister against plain calls.

Tables (all in this run; wall time with ``time.perf_counter_ns``, p50 of `CALLS` after
`WARMUP`; memory store, `Replica.open()`):

1. Host arithmetic (`icframework.replica.vetkd`, blst through pyblst): a derived public
   key, a vetKey in the clear, an encrypted vetKey, and the client's decrypt-and-verify
   (two pairings); the reference is one BLS signature of the subnet (`BlsKeyPair.sign`,
   what every certified round costs), the ratio ours over it.
2. The management canister's handlers alone (`vetkd_public_key`, `vetkd_derive_key` on a
   ready `Request`: Candid decode, derivation, encryption, Candid encode) against
   ``raw_rand``'s (ratio).
3. Through a canister (tests/sdk/vetkd_canister.py, the `icframework.sdk.vetkd` helper):
   ``Replica.update`` of a plain update (``noop``), a plain awaited management call
   (``raw_rand``), ``public_key`` and ``derive_key``; instructions the canister executed
   (the subnet's round reports, both halves of the await), cycles the canister's balance
   lost (the vetKD fee included), p50 ms and the ratio over the awaited ``raw_rand`` call.

Nothing here asserts on timings. Usage: ``.venv/bin/python bench/bench_vetkd.py`` or
``main()`` (``bench/run.py``). Takes a few seconds with the runtime cached.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pyblst import BlstP1Element  # noqa: E402

from bench.support import percentile, round_reports, table  # noqa: E402
from icframework.candid import BLOB, TEXT  # noqa: E402
from icframework.candid.binary import encode  # noqa: E402
from icframework.compiler import runtime_build  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.protocol import BlsKeyPair  # noqa: E402
from icframework.replica.embedded import EMPTY_ARGS, Replica  # noqa: E402
from icframework.replica.execution.python_module import pack_python_module  # noqa: E402
from icframework.replica.execution.runtime import set_runtime_loader  # noqa: E402
from icframework.replica.management import ManagementCanister  # noqa: E402
from icframework.replica.messages import CallOrigin, OriginKind, Request  # noqa: E402
from icframework.replica.vetkd import (  # noqa: E402
    decrypt_vetkey,
    master_key,
    verify_vetkey,
    vetkd_derive_key,
    vetkd_public_key,
)
from icframework.replica.vetkd.methods import DERIVE_KEY_ARGS, PUBLIC_KEY_ARGS  # noqa: E402
from icframework.sdk import load_canister, service_did, vetkd  # noqa: E402

CALLS = 200
WARMUP = 20
RUNTIME_CACHE = ROOT / ".build" / "runtime"
CANISTER_SOURCE = ROOT / "tests" / "sdk" / "vetkd_canister.py"
SEED = bytes(range(32))
CANISTER = Principal.from_canister_index(1).raw
TSK = 0x5EC2E7
TPK = bytes(BlstP1Element.uncompress(bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)).scalar_mul(TSK).compress())
KEY_ID = {"curve": {"bls12_381_g2": None}, "name": "test_key_1"}


def p50_ms(action: Callable[[], object], calls: int = CALLS) -> float:
    for _ in range(WARMUP):
        action()
    clock = time.perf_counter_ns
    samples = []
    for _ in range(calls):
        start = clock()
        action()
        samples.append((clock() - start) / 1e6)
    return percentile(samples, 0.5)


def ratio(ours: float, reference: float) -> str:
    return f"{ours / reference:.2f}x" if reference else "-"


def host_table() -> None:
    key = master_key(SEED, "test_key_1")
    signer = BlsKeyPair.generate()
    encrypted = key.encrypted_vetkey(CANISTER, b"notes", b"alice", TPK)
    dpk = key.public_key_for(CANISTER, b"notes")
    reference = p50_ms(lambda: signer.sign(b"alice"))
    rows = [["BLS sign (reference)", f"{reference:.3f}", "1.00x"]]
    for name, action in [
        ("derived public key", lambda: key.public_key_for(CANISTER, b"notes")),
        ("vetKey in the clear", lambda: key.vetkey(CANISTER, b"notes", b"alice")),
        ("encrypted vetKey", lambda: key.encrypted_vetkey(CANISTER, b"notes", b"alice", TPK)),
        ("client decrypt + verify", lambda: verify_vetkey(decrypt_vetkey(encrypted, TSK), dpk,
                                                          b"alice")),
    ]:
        ms = p50_ms(action)
        rows.append([name, f"{ms:.3f}", ratio(ms, reference)])
    print("1. Host arithmetic (p50)")
    table(["operation", "ms", "vs sign"], rows)


def _request(method: str, arg: bytes, cycles: int = 0) -> Request:
    return Request(CANISTER, Principal.management_canister().raw, method, arg,
                   CallOrigin(OriginKind.CANISTER, canister_id=CANISTER), cycles)


def handler_table() -> None:
    public_arg = encode([PUBLIC_KEY_ARGS], [{"canister_id": None, "context": b"notes",
                                             "key_id": KEY_ID}])
    derive_arg = encode([DERIVE_KEY_ARGS], [{"input": b"alice", "context": b"notes",
                                             "transport_public_key": TPK, "key_id": KEY_ID}])
    with Replica.open() as replica:
        management = ManagementCanister(replica.subnet)
        raw_rand = _request("raw_rand", EMPTY_ARGS)
        reference = p50_ms(lambda: management._m_raw_rand(raw_rand))
    public = _request("vetkd_public_key", public_arg)
    derive = _request("vetkd_derive_key", derive_arg, vetkd.fee())
    rows = [["raw_rand (reference)", f"{reference:.3f}", "1.00x"]]
    for name, action in [("vetkd_public_key", lambda: vetkd_public_key(public, SEED)),
                         ("vetkd_derive_key", lambda: vetkd_derive_key(derive, SEED))]:
        ms = p50_ms(action)
        rows.append([name, f"{ms:.3f}", ratio(ms, reference)])
    print("\n2. Management canister handlers alone (p50)")
    table(["method", "ms", "vs raw_rand"], rows)


@contextlib.contextmanager
def _runtime_loader() -> Iterator[None]:
    set_runtime_loader(functools.partial(runtime_build.load_runtime, cache_dir=RUNTIME_CACHE,
                                         progress=None))
    try:
        yield
    finally:
        set_runtime_loader(None)


def canister_table() -> None:
    did = service_did(load_canister("tests.sdk.vetkd_canister"))
    module = pack_python_module({"vetkd_canister.py": CANISTER_SOURCE.read_text()},
                                "vetkd_canister.py", did=did)
    with _runtime_loader(), Replica.open() as replica:
        canister = replica.create_canister()
        replica.install_code(canister, module)
        subnet = replica.subnet
        reports, _undo = round_reports(subnet)
        cases = [
            ("noop (plain update)", "noop", EMPTY_ARGS),
            ("raw_rand (awaited, reference)", "raw_rand_call", EMPTY_ARGS),
            ("vetkd_public_key", "public_key", encode((BLOB, TEXT), (b"notes", "test_key_1"))),
            ("vetkd_derive_key", "derive_key",
             encode((BLOB, BLOB, BLOB, TEXT), (b"alice", b"notes", TPK, "test_key_1"))),
        ]
        measured = []
        for name, method, arg in cases:
            ms = p50_ms(functools.partial(replica.update, canister, method, arg),
                        calls=CALLS // 2)
            reports.clear()
            before = subnet.canister_state.canister(canister.raw).cycles
            replica.update(canister, method, arg)
            spent = before - subnet.canister_state.canister(canister.raw).cycles
            measured.append((name, sum(r.instructions for r in reports), spent, ms))
        del subnet.execute_round
    reference = measured[1][3]
    print("\n3. Through a Python canister (Replica.update, p50)")
    table(["call", "instructions", "cycles spent", "ms", "vs raw_rand"],
          [[name, f"{instructions:,}", f"{spent:,}", f"{ms:.2f}", ratio(ms, reference)]
           for name, instructions, spent, ms in measured])


def main() -> None:
    host_table()
    handler_table()
    canister_table()


if __name__ == "__main__":
    main()
