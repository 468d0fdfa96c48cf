"""did.js (the browser bundle's .did reader) agrees with icframework.candid on real .did files.

Node reads each file with did.js into @dfinity/candid IDL types; Python reads it with
`icframework.candid.parse_did`; both print every service method, init argument and named
type in one canonical form (field ids, sorted; recursive types unrolled to a fixed
depth) and the forms must be equal. Broken files give errors that say where and what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from icframework.candid import parse_did
from icframework.candid.types import (
    CandidType,
    Func,
    Opt,
    Prim,
    Record,
    Service,
    TypeRef,
    Variant,
    Vec,
)
from tests.frontend.node_runner import run_script
from tests.node import requires_node

pytestmark = requires_node

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    "apps/chat/chat.did",
    "tests/sdk/golden/sample_canister.did",
    "tests/candid/golden/basic.in.did",
    "tests/candid/golden/class.in.did",
    "tests/candid/golden/nested.in.did",
    "tests/candid/golden/quoting.in.did",
]
DEPTH = 8
BROKEN = {
    "unknown type": "type A = record { x : Missing };\nservice : {}",
    "missing colon": "service : {\n  m (nat) -> ();\n}",
    "no service": "type A = nat;",
    "open string": 'service : { "m : () -> () }',
    "import": 'import "other.did";\nservice : {}',
}


def canonical(t: CandidType, depth: int) -> Any:
    """The form did_types.mjs prints for the same type."""
    if depth == 0:
        return "..."
    d = depth - 1
    if isinstance(t, TypeRef):
        return canonical(t.env[t.name], depth)
    if isinstance(t, Prim):
        return t.kind.name.lower()
    if isinstance(t, Opt):
        return {"opt": canonical(t.inner, d)}
    if isinstance(t, Vec):
        return {"vec": canonical(t.inner, d)}
    if isinstance(t, Record | Variant):
        kind = "record" if isinstance(t, Record) else "variant"
        return {kind: [[f.id, canonical(f.type, d)] for f in t.fields]}
    if isinstance(t, Func):
        return {"func": {
            "args": [canonical(a, d) for a in t.args],
            "results": [canonical(r, d) for r in t.results],
            "modes": sorted(t.modes),
        }}
    if isinstance(t, Service):
        return {"service": [[name, canonical(m, d)] for name, m in t.methods]}
    raise AssertionError(f"no canonical form for {t!r}")


@pytest.fixture(scope="module")
def node_result() -> dict[str, Any]:
    files = {name: (ROOT / name).read_text(encoding="utf-8") for name in FILES}
    result: dict[str, Any] = run_script(
        "did_types.mjs", {"files": files, "depth": DEPTH, "broken": BROKEN}
    )
    return result


@pytest.mark.parametrize("name", FILES)
def test_did_js_reads_the_file_as_icframework_candid_does(
    node_result: dict[str, Any], name: str
) -> None:
    did = parse_did((ROOT / name).read_text(encoding="utf-8"))
    got = node_result["files"][name]
    assert did.service is not None
    assert got["service"] == canonical(did.service, DEPTH)
    assert got["init"] == [canonical(t, DEPTH) for t in did.service_args or ()]
    assert got["types"] == {n: canonical(did.env[n], DEPTH) for n in did.env}


def test_broken_files_say_what_is_wrong(node_result: dict[str, Any]) -> None:
    assert node_result["broken"] == {
        "unknown type": "DidSyntaxError: type Missing is used but never defined",
        "missing colon": "DidSyntaxError: line 2, column 5: expected ':', found \"(\"",
        "no service": "DidSyntaxError: the file has no service; a .did for an actor ends "
                      "with `service : { ... }`",
        "open string": "DidSyntaxError: line 1: a string is never closed",
        "import": "DidSyntaxError: line 1: import is not supported; inline the imported types",
    }
