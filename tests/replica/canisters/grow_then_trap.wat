;; grow_then_trap.wat: a trapping update must roll back memory growth, memory and global writes,
;; stable memory growth and writes, and certified data.
;; Expected (fresh install):
;;   query  "state"            -> replies three nat64 "DIDL\00\03\78\78\78" + u64 LE each:
;;                                (memory.size in pages, the global counter, stable64_size in pages);
;;                                after install: (1, 0, 0)
;;   update "grow_then_trap"   -> memory.grow 2, writes at address 100000, global + 1,
;;                                stable64_grow 1 + write, certified_data_set, then `unreachable`:
;;                                IC0502 (CanisterTrapped); "state" is unchanged afterwards
;;   update "grow_then_call_trap" -> the same, but ends with ic0.trap("grow_then_call_trap"): IC0503
;;   update "grow"             -> the same changes without a trap; replies (nat64) the global counter;
;;                                "state" then reports (3, 1, 1) after the first call
;;   query  "peek"             -> (nat64) the u64 at address 100000 if memory is big enough, else 0
;; Exports: canister_query state, canister_update grow_then_trap,
;;   canister_update grow_then_call_trap, canister_update grow, canister_query peek, memory
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "stable64_size" (func $stable64_size (result i64)))
  (import "ic0" "stable64_grow" (func $stable64_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable64_write (param i64 i64 i64)))
  (import "ic0" "certified_data_set" (func $certified_data_set (param i32 i32)))
  (memory (export "memory") 1)
  (global $counter (mut i64) (i64.const 0))
  (data (i32.const 0) "DIDL\00\03\78\78\78")
  (data (i32.const 48) "DIDL\00\01\78")
  (data (i32.const 80) "grow_then_call_trap")

  (func $reply_nat64 (param $value i64)
    (i64.store (i32.const 55) (local.get $value))
    (call $reply_append (i32.const 48) (i32.const 15))
    (call $reply))

  (func $change_everything
    (drop (memory.grow (i32.const 2)))
    (i64.store (i32.const 100000) (i64.const 0x1122334455667788))
    (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
    (drop (call $stable64_grow (i64.const 1)))
    (call $stable64_write (i64.const 0) (i64.const 80) (i64.const 19))
    (call $certified_data_set (i32.const 80) (i32.const 19)))

  (func (export "canister_query state")
    (i64.store (i32.const 9) (i64.extend_i32_u (memory.size)))
    (i64.store (i32.const 17) (global.get $counter))
    (i64.store (i32.const 25) (call $stable64_size))
    (call $reply_append (i32.const 0) (i32.const 33))
    (call $reply))

  (func (export "canister_update grow_then_trap")
    (call $change_everything)
    unreachable)

  (func (export "canister_update grow_then_call_trap")
    (call $change_everything)
    (call $trap (i32.const 80) (i32.const 19)))

  (func (export "canister_update grow")
    (call $change_everything)
    (call $reply_nat64 (global.get $counter)))

  (func (export "canister_query peek")
    (if (i32.ge_u (memory.size) (i32.const 2))
      (then (call $reply_nat64 (i64.load (i32.const 100000))))
      (else (call $reply_nat64 (i64.const 0)))))
)
