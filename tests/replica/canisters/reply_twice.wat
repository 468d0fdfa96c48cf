;; reply_twice.wat: responding more than once is a contract violation.
;; Expected:
;;   update "reply_twice"        -> msg_reply, then msg_reply again: trap, IC0504 (reject code 5);
;;                                  the first reply is discarded and the counter bump is rolled back
;;   update "append_after_reply" -> msg_reply, then msg_reply_data_append: IC0504
;;   update "reply_then_reject"  -> msg_reply, then msg_reject: IC0504
;;   query  "reply_twice_query"  -> same as reply_twice, in a query: IC0504
;;   update "reply_once"         -> replies (nat64) with the new counter value (control)
;;   query  "get"                -> (nat64) counter: only reply_once calls count
;; Exports: canister_update reply_twice, canister_update append_after_reply,
;;   canister_update reply_then_reject, canister_update reply_once,
;;   canister_query reply_twice_query, canister_query get, memory
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "DIDL\00\01\78")
  (data (i32.const 64) "rejected after reply")

  (func $bump
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1))))

  (func $append_nat64 (param $value i64)
    (i64.store (i32.const 23) (local.get $value))
    (call $reply_append (i32.const 16) (i32.const 15)))

  (func (export "canister_update reply_twice")
    (call $bump)
    (call $append_nat64 (i64.load (i32.const 0)))
    (call $reply)
    (call $reply))

  (func (export "canister_update append_after_reply")
    (call $bump)
    (call $append_nat64 (i64.load (i32.const 0)))
    (call $reply)
    (call $reply_append (i32.const 16) (i32.const 1)))

  (func (export "canister_update reply_then_reject")
    (call $bump)
    (call $append_nat64 (i64.load (i32.const 0)))
    (call $reply)
    (call $reject (i32.const 64) (i32.const 20)))

  (func (export "canister_query reply_twice_query")
    (call $append_nat64 (i64.load (i32.const 0)))
    (call $reply)
    (call $reply))

  (func (export "canister_update reply_once")
    (call $bump)
    (call $append_nat64 (i64.load (i32.const 0)))
    (call $reply))

  (func (export "canister_query get")
    (call $append_nat64 (i64.load (i32.const 0)))
    (call $reply))
)
