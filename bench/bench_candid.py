"""Candid binary codec speed: `icframework.candid.binary` against `@dfinity/candid` in node.

This module owns the Python half of the Candid benchmark (``bench/candid_js_bench.mjs``
is the node half). Rows:

* bulk: one message holding a vector of 1,000 marketplace listings (records with text,
  nat, principal, vec text, opt blob, nat64 and a variant with a record payload),
  encoded and decoded; best of `RUNS` single calls on each side, reported in listings/s
  and MB/s of message.
* small: a single ``(nat)`` and a 5-field record, the size of most canister calls;
  calls/s, best of 3 timed batches.

The ratio column is ours/JS throughput (above 1 means we are faster). Both sides code
the same values: node receives our encoding and decodes it once with agent-js to get
its own JS values, and its bulk encoding is checked to decode here to the same values.
Without node (or ``npm ci``), only our figures are printed.

Usage: ``.venv/bin/python bench/bench_candid.py`` or ``main()`` (``bench/run.py``).
"""

from __future__ import annotations

import functools
import json
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from icframework.candid import (  # noqa: E402
    BLOB,
    BOOL,
    NAT,
    NAT64,
    NULL,
    PRINCIPAL,
    TEXT,
    CandidType,
    Field,
    Opt,
    Record,
    Variant,
    Vec,
)
from icframework.candid.binary import decode, encode  # noqa: E402
from icframework.core import Principal  # noqa: E402

# The interchange format for types lives with the cross-check test (one definition).
from tests.candid.test_js_crosscheck import case_payload  # noqa: E402

LISTINGS = 1_000
RUNS = 10
SMALL_BUDGET_S = 1.5
JS_SCRIPT = ROOT / "bench" / "candid_js_bench.mjs"


def _rec(**fields: CandidType) -> Record:
    return Record(Field(name, t) for name, t in fields.items())


STATUS = Variant([
    Field("active", NULL),
    Field("sold", _rec(buyer=PRINCIPAL, at=NAT64)),
])
LISTING = _rec(
    id=NAT64, title=TEXT, description=TEXT, price=NAT, seller=PRINCIPAL, tags=Vec(TEXT),
    image=Opt(BLOB), created_at=NAT64, status=STATUS,
)
LISTING_VEC = Vec(LISTING)
SMALL_RECORD = _rec(owner=PRINCIPAL, amount=NAT, memo=TEXT, at=NAT64, ok=BOOL)

_WORDS = (
    "vintage", "lamp", "brass", "handmade", "oak", "table", "chair", "rare", "mint", "boxed",
    "signed", "print", "canvas", "ceramic", "vase", "wool", "rug", "leather", "bag", "silver",
    "ring", "garden", "tool", "bicycle", "camera", "lens",
)


def make_listings(n: int = LISTINGS, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` deterministic, realistic listings (about 300 bytes each encoded)."""
    rng = random.Random(seed)
    sellers = [Principal.from_canister_index(rng.randrange(1 << 40)) for _ in range(50)]
    sellers += [Principal(rng.randbytes(28) + b"\x02") for _ in range(50)]
    listings = []
    for i in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(25, 40))]
        sold = rng.random() < 0.3
        listings.append({
            "id": 10_000_000 + i,
            "title": " ".join(words[:4]).title() + (" ✨" if i % 7 == 0 else ""),
            "description": " ".join(words),
            "price": rng.randrange(10**6, 10**12),
            "seller": rng.choice(sellers),
            "tags": rng.sample(_WORDS, rng.randint(0, 4)),
            "image": rng.randbytes(64) if rng.random() < 0.5 else None,
            "created_at": 1_700_000_000_000_000_000 + i * 1_000_000_007,
            "status": (
                {"sold": {"buyer": rng.choice(sellers), "at": 1_710_000_000_000_000_000 + i}}
                if sold else {"active": None}
            ),
        })
    return listings


def _best_single(fn: Callable[[], object], runs: int) -> float:
    """Best seconds of ``runs`` calls of ``fn``, after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _best_batch(fn: Callable[[], object], budget_s: float) -> float:
    """Seconds per call of ``fn``: best of 3 batches sized to fill about ``budget_s``."""
    n = 0
    end = time.perf_counter() + budget_s / 4
    while time.perf_counter() < end:
        fn()
        n += 1
    batch = max(1, round(n * 4 / 3))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(batch):
            fn()
        best = min(best, (time.perf_counter() - start) / batch)
    return best


def _node_available() -> bool:
    return shutil.which("node") is not None and (ROOT / "node_modules" / "@dfinity").is_dir()


def _run_js(payload: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        ["node", str(JS_SCRIPT)], input=json.dumps(payload), capture_output=True, text=True,
        cwd=ROOT, timeout=300, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"node {JS_SCRIPT.name} failed ({proc.returncode}):\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _ratio(ours_s: float, js_s: float | None) -> str:
    return f"{js_s / ours_s:>8.2f}x" if js_s else f"{'—':>9}"


def _rate(seconds: float | None, units: float) -> str:
    return f"{units / seconds:>13,.0f}" if seconds else f"{'—':>13}"


def _mbps(seconds: float | None, size: int) -> str:
    return f"{size / seconds / 1e6:>9.1f}" if seconds else f"{'—':>9}"


def main() -> None:
    listings = make_listings()
    bulk_types = [LISTING_VEC]
    bulk_bytes = encode(bulk_types, [listings])
    if decode(bulk_bytes, bulk_types) != (listings,):
        raise SystemExit("our codec does not round-trip the bench data")

    small_cases: list[tuple[str, list[CandidType], list[Any]]] = [
        ("(nat)", [NAT], [1_000_000]),
        ("(record {5 fields})", [SMALL_RECORD], [{
            "owner": Principal.from_text("ryjl3-tyaaa-aaaaa-aaaba-cai"), "amount": 123_456_789,
            "memo": "coffee", "at": 1_732_000_000_000_000_000, "ok": True,
        }]),
    ]

    ours_bulk_enc = _best_single(lambda: encode(bulk_types, [listings]), RUNS)
    ours_bulk_dec = _best_single(lambda: decode(bulk_bytes, bulk_types), RUNS)
    ours_small: list[tuple[float, float, int]] = []
    for _, types, values in small_cases:
        data = encode(types, values)
        ours_small.append((
            _best_batch(functools.partial(encode, types, values), SMALL_BUDGET_S),
            _best_batch(functools.partial(decode, data, types), SMALL_BUDGET_S),
            len(data),
        ))

    js: dict[str, Any] | None = None
    if _node_available():
        bulk = case_payload(bulk_types, None, bulk_bytes.hex())
        js = _run_js({
            "bulk": {**bulk, "runs": RUNS},
            "small": [
                {**case_payload(types, None, encode(types, values).hex()), "name": name,
                 "budget_ms": SMALL_BUDGET_S * 1000}
                for name, types, values in small_cases
            ],
        })
        if decode(bytes.fromhex(js["bulk"]["hex"]), bulk_types) != (listings,):
            raise SystemExit("agent-js's encoding of the bench data decodes differently here")

    js_bulk = js["bulk"] if js else {}
    js_label = f"@dfinity/candid {js['candid']} (node {js['node']})" if js else "node: not run"
    lines = [
        f"Candid binary codec: icframework {sys.implementation.name} "
        f"{sys.version.split()[0]} vs {js_label}",
        f"bulk: vec of {LISTINGS:,} listing records, message {len(bulk_bytes):,} bytes (ours)"
        + (f" / {js_bulk['bytes']:,} bytes (JS)" if js else "") + f"; best of {RUNS} runs",
        "",
        f"{'operation':<30} {'ours values/s':>13} {'ours MB/s':>9} {'JS values/s':>13} "
        f"{'JS MB/s':>9} {'ours/JS':>9}",
    ]
    for op, ours_s, js_s in (
        ("encode", ours_bulk_enc, js_bulk.get("encode_s")),
        ("decode", ours_bulk_dec, js_bulk.get("decode_s")),
    ):
        lines.append(
            f"{op + ' vec listing':<30} {_rate(ours_s, LISTINGS)} {_mbps(ours_s, len(bulk_bytes))} "
            f"{_rate(js_s, LISTINGS)} {_mbps(js_s, js_bulk.get('bytes', 0))} "
            f"{_ratio(ours_s, js_s)}"
        )
    lines += ["", f"{'small message':<30} {'ours calls/s':>13} {'':>9} {'JS calls/s':>13} "
                  f"{'':>9} {'ours/JS':>9}"]
    for i, (name, _, _) in enumerate(small_cases):
        enc_s, dec_s, size = ours_small[i]
        js_small = js["small"][i] if js else {}
        for op, ours_s, js_s in (
            ("encode", enc_s, js_small.get("encode_s")),
            ("decode", dec_s, js_small.get("decode_s")),
        ):
            label = f"{op} {name} {size}B"
            lines.append(
                f"{label:<30} {_rate(ours_s, 1)} {'':>9} {_rate(js_s, 1)} {'':>9} "
                f"{_ratio(ours_s, js_s)}"
            )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
