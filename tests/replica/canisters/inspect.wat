;; inspect.wat: canister_inspect_message that accepts only ingress calls of method "allowed".
;; Inspect runs only for ingress update calls (not for queries, inter-canister or management calls).
;; Expected (ingress update calls):
;;   "allowed"      -> accepted; replies (nat64) with the number of executed "allowed" calls (1, 2, ...)
;;   "denied"       -> rejected before execution: IC0406 (CanisterRejectedMessage), nothing executes
;;   "accept_twice" -> inspect calls accept_message twice; the second traps, so the ingress is refused
;;                     (the IC reports IC0504 for the contract violation; a replica may report IC0406)
;;   "inspect_trap" -> inspect calls ic0.trap: the ingress is refused (IC0503 on the IC)
;;   query "count"  -> (nat64) number of executed "allowed" and "denied" calls (inspect not involved)
;; When "denied" is called from another canister (no inspect), it runs and replies (nat64) count.
;; Exports: canister_inspect_message, canister_update allowed, canister_update denied,
;;   canister_update accept_twice, canister_update inspect_trap, canister_query count, memory
(module
  (import "ic0" "msg_method_name_size" (func $name_size (result i32)))
  (import "ic0" "msg_method_name_copy" (func $name_copy (param i32 i32 i32)))
  (import "ic0" "accept_message" (func $accept_message))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (data (i32.const 16) "DIDL\00\01\78")
  (data (i32.const 64) "allowed")
  (data (i32.const 80) "accept_twice")
  (data (i32.const 96) "inspect_trap")
  (data (i32.const 112) "inspect refuses by trapping")

  ;; 1 iff bytes [a, a+len) equal bytes [b, b+len)
  (func $bytes_equal (param $a i32) (param $b i32) (param $len i32) (result i32)
    (loop $next
      (if (i32.eqz (local.get $len)) (then (return (i32.const 1))))
      (if (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b)))
        (then (return (i32.const 0))))
      (local.set $a (i32.add (local.get $a) (i32.const 1)))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (local.set $len (i32.sub (local.get $len) (i32.const 1)))
      (br $next))
    (i32.const 0))

  ;; 1 iff the method name equals the `len` bytes at `text`
  (func $method_is (param $text i32) (param $len i32) (result i32)
    (if (i32.ne (call $name_size) (local.get $len)) (then (return (i32.const 0))))
    (call $name_copy (i32.const 1024) (i32.const 0) (local.get $len))
    (call $bytes_equal (i32.const 1024) (local.get $text) (local.get $len)))

  (func (export "canister_inspect_message")
    (if (call $method_is (i32.const 64) (i32.const 7))
      (then (call $accept_message) (return)))
    (if (call $method_is (i32.const 80) (i32.const 12))
      (then (call $accept_message) (call $accept_message) (return)))
    (if (call $method_is (i32.const 96) (i32.const 12))
      (then (call $trap (i32.const 112) (i32.const 27)))))

  (func $count_and_reply
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
    (i64.store (i32.const 23) (i64.load (i32.const 0)))
    (call $reply_append (i32.const 16) (i32.const 15))
    (call $reply))

  (func (export "canister_update allowed") (call $count_and_reply))
  (func (export "canister_update denied") (call $count_and_reply))
  (func (export "canister_update accept_twice") (call $count_and_reply))
  (func (export "canister_update inspect_trap") (call $count_and_reply))

  (func (export "canister_query count")
    (i64.store (i32.const 23) (i64.load (i32.const 0)))
    (call $reply_append (i32.const 16) (i32.const 15))
    (call $reply))
)
