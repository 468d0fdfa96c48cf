"""`check_ic_limits` against small hand-made modules: each IC limit is met by a module at
the limit and broken by one past it, and the error names the limit, the value and the
maximum. Modules are written as WAT (wasmtime's ``wat2wasm``) or, when a limit needs
many entries, assembled byte by byte.
"""

from __future__ import annotations

import gzip

import pytest
import wasmtime

from icframework.compiler.ic_limits import (
    IC_LIMITS,
    IcLimitError,
    Violation,
    check_ic_limits,
    module_facts,
)
from icframework.core import encode_uleb128

MAGIC = b"\x00asm\x01\x00\x00\x00"

COUNTER = """
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (memory 1)
  (global $n (mut i32) (i32.const 0))
  (data (i32.const 0) "DIDL\\00\\00")
  (func (export "canister_update inc")
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (call $append (i32.const 0) (i32.const 6))
    (call $reply))
  (func (export "canister_query get")
    (call $append (i32.const 0) (i32.const 6))
    (call $reply))
  (@custom "icp:public candid:service" "service : { inc : () -> (); get : () -> () query }")
)
"""


def wat(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + encode_uleb128(len(body)) + body


def vector(items: list[bytes]) -> bytes:
    return encode_uleb128(len(items)) + b"".join(items)


def name(text: str) -> bytes:
    raw = text.encode()
    return encode_uleb128(len(raw)) + raw


def custom(section_name: str, content: bytes) -> bytes:
    return section(0, name(section_name) + content)


def functions_module(count: int, body: bytes = b"\x00\x0b") -> bytes:
    """``count`` functions of type () -> (), each with ``body`` (locals + code)."""
    sized = encode_uleb128(len(body)) + body
    return (MAGIC + section(1, vector([b"\x60\x00\x00"]))
            + section(3, vector([b"\x00"] * count)) + section(10, vector([sized] * count)))


def violations(module: bytes) -> list[Violation]:
    with pytest.raises(IcLimitError) as info:
        check_ic_limits(module)
    return info.value.violations


def only(module: bytes) -> Violation:
    (violation,) = violations(module)
    return violation


def test_a_canister_module_passes_and_its_facts_are_counted() -> None:
    facts = check_ic_limits(wat(COUNTER))
    assert (facts.functions, facts.globals, facts.data_segments, facts.memories) == (4, 1, 1, 1)
    assert facts.methods == ["inc", "get"]
    assert list(facts.icp_sections) == ["icp:public candid:service"]
    assert facts.gzipped_size is None
    gzipped = gzip.compress(wat(COUNTER), mtime=0)
    assert check_ic_limits(gzipped).gzipped_size == len(gzipped)


def test_only_ic0_imports_with_the_system_api_signatures() -> None:
    wasi = wat('(module (import "wasi_snapshot_preview1" "fd_write" '
               '(func (param i32 i32 i32 i32) (result i32))))')
    violation = only(wasi)
    assert violation.limit == "imports"
    assert "import wasi_snapshot_preview1.fd_write" in str(violation)
    assert "functions of module ic0 only" in str(violation)

    assert "ic0 has no such function" in str(only(wat('(module (import "ic0" "nope" (func)))')))
    wrong = only(wat('(module (import "ic0" "msg_reply" (func (param i32))))'))
    assert "import ic0.msg_reply of type (('i32',), ())" in str(wrong)
    assert "type ((), ())" in str(wrong)


def test_functions_and_code_section_size() -> None:
    limit = IC_LIMITS["functions"].maximum
    assert check_ic_limits(functions_module(limit), validate_code=False).functions == limit
    violation = only(functions_module(limit + 1))
    assert str(violation) == "functions: 50,001 functions (the IC allows 50,000)"

    big_body = b"\x00" + b"\x01" * (10 * 1024 * 1024) + b"\x0b"
    violation = only(functions_module(1, big_body))
    assert violation.limit == "code section size"
    assert violation.maximum == "10,485,760"


def test_globals_and_data_segments() -> None:
    globals_wat = "(module " + "(global i32 (i32.const 0))" * 1001 + ")"
    assert str(only(wat(globals_wat))) == "globals: 1,001 globals (the IC allows 1,000)"

    segments = vector([b"\x01\x00"] * 100_001)  # passive, empty
    module = MAGIC + section(5, vector([b"\x00\x01"])) + section(11, segments)
    assert str(only(module)) == "data segments: 100,001 segments (the IC allows 100,000)"


def test_exported_methods_count_names_and_types() -> None:
    many = "(module " + "".join(
        f'(func (export "canister_query m{i}"))' for i in range(1001)) + ")"
    assert str(only(wat(many))) == "exported methods: 1,001 methods (the IC allows 1,000)"

    long_names = "(module " + "".join(
        f'(func (export "canister_update {i:02d}{"x" * 998}"))' for i in range(21)) + ")"
    violation = only(wat(long_names))
    assert violation.limit == "exported method name bytes"
    assert violation.value == "21,000 bytes"

    twice = wat('(module (func (export "canister_update a")) (func (export "canister_query a")))')
    assert "method 'a' exported twice" in str(only(twice))
    typed = wat('(module (func (export "canister_update f") (param i32)))')
    assert "type () -> ()" in str(only(typed))
    unknown = wat('(module (func (export "canister_foo")))')
    assert "'canister_foo'" in str(only(unknown))


def test_icp_custom_sections() -> None:
    base = wat("(module)")
    bad_name = base + custom("icp:secret x", b"")
    assert only(bad_name).limit == "icp custom section names"
    both = base + custom("icp:public a", b"") + custom("icp:private a", b"")
    assert "'a' public and private" in str(only(both))
    seventeen = base + b"".join(custom(f"icp:public s{i}", b"") for i in range(17))
    assert str(only(seventeen)) == "icp custom sections: 17 sections (the IC allows 16)"
    large = base + custom("icp:public big", b"x" * (1024 * 1024))
    violation = only(large)
    assert violation.limit == "icp custom sections size"
    assert violation.value == "1,048,579 bytes"  # content plus the name "big"
    # Other custom sections (names, producers, padding) count only towards the module size.
    assert check_ic_limits(base + custom("padding", b"x" * (2 * 1024 * 1024)))


def test_module_size_raw_and_gzipped() -> None:
    limit = IC_LIMITS["module size"].maximum
    base = wat("(module)")
    filler = limit + 1 - len(base) - len(custom("padding", b""))
    huge = base + custom("padding", bytes(filler))
    assert len(huge) > limit
    violation = only(huge)
    assert violation.limit == "module size"
    # A gzip bomb is read only up to the limit and reported, never unpacked whole.
    assert only(gzip.compress(huge, compresslevel=1)).limit == "module size"


def test_wasm_features_outside_the_ic_set_are_refused() -> None:
    assert only(wat("(module (memory 1) (memory 1))")).limit == "memories"
    shared = only(wat("(module (memory 1 1 shared))"))
    assert shared.limit == "Wasm features"
    assert "thread" in shared.detail.lower() or "shared" in shared.detail.lower()
    tail = only(wat("(module (func $f (return_call $f)))"))
    assert tail.limit == "Wasm features"
    assert "tail" in tail.detail.lower()
    # Features the IC runs: SIMD, bulk memory, 64-bit memory.
    assert check_ic_limits(wat("(module (memory i64 1) (func (drop (v128.const i64x2 1 2)))"
                               " (func (memory.fill (i64.const 0) (i32.const 0) (i64.const 1))))"))


def test_not_a_module() -> None:
    assert only(b"hello").limit == "format"
    assert only(MAGIC + b"\x01\x05\x01").limit == "format"
    assert module_facts(wat("(module)")).size == 8
