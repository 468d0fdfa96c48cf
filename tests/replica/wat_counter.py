"""A small hand-written WAT canister used by the subnet tests (globals, memory, traps)."""

from __future__ import annotations

import wasmtime

COUNTER_WAT = r"""
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "stable64_grow" (func $stable_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable_write (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $stable_read (param i64 i64 i64)))
  (import "ic0" "stable64_size" (func $stable_size (result i64)))
  (import "ic0" "certified_data_set" (func $certify (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "DIDL\00\01\78")
  (data (i32.const 200) "oops")
  (data (i32.const 300) "no thanks")
  (global $counter (mut i64) (i64.const 0))

  (func $reply_u64 (param $value i64)
    (i64.store (i32.const 7) (local.get $value))
    (call $append (i32.const 0) (i32.const 15))
    (call $reply))

  (func $bump
    (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
    (i64.store (i32.const 100) (global.get $counter)))

  (func (export "canister_init")
    (drop (call $stable_grow (i64.const 1))))

  (func (export "canister_update inc")
    (call $bump)
    (call $reply_u64 (global.get $counter)))

  (func (export "canister_update inc_everywhere")
    (call $bump)
    (call $stable_write (i64.const 0) (i64.const 100) (i64.const 8))
    (call $reply_u64 (global.get $counter)))

  (func (export "canister_query get")
    (call $reply_u64 (global.get $counter)))

  (func (export "canister_query memory_counter")
    (call $reply_u64 (i64.load (i32.const 100))))

  (func (export "canister_query bump_in_query")
    (call $bump)
    (call $reply_u64 (global.get $counter)))

  (func (export "canister_update inc_then_trap")
    (call $bump)
    (call $stable_write (i64.const 0) (i64.const 100) (i64.const 8))
    (call $trap (i32.const 200) (i32.const 4)))

  (func (export "canister_update grow_then_trap")
    (call $bump)
    (drop (memory.grow (i32.const 3)))
    (i64.store (i32.const 70000) (i64.const 7))
    unreachable)

  (func (export "canister_update save_stable")
    (call $stable_write (i64.const 0) (i64.const 100) (i64.const 8))
    (call $reply_u64 (call $stable_size)))

  (func (export "canister_query load_stable")
    (call $stable_read (i64.const 400) (i64.const 0) (i64.const 8))
    (call $reply_u64 (i64.load (i32.const 400))))

  (func (export "canister_update refuse")
    (call $bump)
    (call $reject (i32.const 300) (i32.const 9)))

  (func (export "canister_update no_reply")
    (call $bump))

  (func (export "canister_update certify")
    (call $certify (i32.const 200) (i32.const 4))
    (call $reply_u64 (i64.const 0)))

  (func (export "canister_update spin")
    (loop $forever (br $forever)))
)
"""


def counter_wasm() -> bytes:
    return bytes(wasmtime.wat2wasm(COUNTER_WAT))


def nat64_reply(value: int) -> bytes:
    return b"DIDL\x00\x01\x78" + value.to_bytes(8, "little")
