;; no_reply.wat: an entry point that returns without replying and without outstanding calls.
;; Expected:
;;   update "no_reply"       -> IC0506 (CanisterDidNotReply, reject code 5). The execution did not
;;                              trap, so its state change (counter + 1) is kept
;;   query  "no_reply_query" -> IC0506 as well
;;   query  "get"            -> (nat64) number of no_reply executions, "DIDL\00\01\78" + u64 LE
;;   update "reply"          -> replies "DIDL\00\00" (control)
;; Exports: canister_update no_reply, canister_query no_reply_query, canister_query get,
;;   canister_update reply, memory
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (data (i32.const 16) "DIDL\00\01\78")
  (data (i32.const 32) "DIDL\00\00")

  (func (export "canister_update no_reply")
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1))))

  (func (export "canister_query no_reply_query"))

  (func (export "canister_query get")
    (i64.store (i32.const 23) (i64.load (i32.const 0)))
    (call $reply_append (i32.const 16) (i32.const 15))
    (call $reply))

  (func (export "canister_update reply")
    (call $reply_append (i32.const 32) (i32.const 6))
    (call $reply))
)
