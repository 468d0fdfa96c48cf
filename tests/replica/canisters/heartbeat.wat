;; heartbeat.wat: canister_heartbeat counts its executions in memory.
;; Expected:
;;   the replica runs canister_heartbeat about once per round (best effort) while the canister runs;
;;   query  "count" -> (nat64) heartbeats so far, "DIDL\00\01\78" + u64 LE; grows with rounds/ticks
;;   update "reset" -> sets the count to 0, replies (nat64) the count before the reset
;; Exports: canister_heartbeat, canister_query count, canister_update reset, memory
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (data (i32.const 16) "DIDL\00\01\78")

  (func $reply_nat64 (param $value i64)
    (i64.store (i32.const 23) (local.get $value))
    (call $reply_append (i32.const 16) (i32.const 15))
    (call $reply))

  (func (export "canister_heartbeat")
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1))))

  (func (export "canister_query count")
    (call $reply_nat64 (i64.load (i32.const 0))))

  (func (export "canister_update reset")
    (local $before i64)
    (local.set $before (i64.load (i32.const 0)))
    (i64.store (i32.const 0) (i64.const 0))
    (call $reply_nat64 (local.get $before)))
)
