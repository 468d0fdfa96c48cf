;; call_perform_fail.wat: inter-canister call API misuse and cycle overdraft.
;; Expected:
;;   update "ping"                          -> replies "DIDL\00\00"
;;   update "perform_ok"                    -> self-call to "ping": call_perform returns 0, the reply
;;                                             callback replies (nat64) 1 (a reject would give 1000 + code)
;;   update "data_append_without_call_new"  -> call_data_append with no call under construction: IC0504
;;   update "perform_without_call_new"      -> call_perform with no call under construction: IC0504
;;   update "cycles_add_without_call_new"   -> call_cycles_add128 with no call under construction: IC0504
;;   update "cycles_add_over_balance"       -> call_new, then call_cycles_add128(balance + 1): traps;
;;                                             IC0504 on the current IC (older replicas said IC0207;
;;                                             IC0520 InsufficientCyclesInCall is also plausible)
;;   update "perform_with_liquid_balance"   -> call_new, call_cycles_add128(liquid balance), call_perform:
;;                                             the call fee cannot be paid, so call_perform returns
;;                                             non-zero (2 = SYS_TRANSIENT on the IC) and does not trap;
;;                                             replies (nat64) with that return value; the cycles are
;;                                             refunded, the balance is unchanged except execution fees
;; Exports: canister_update ping, canister_update perform_ok,
;;   canister_update data_append_without_call_new, canister_update perform_without_call_new,
;;   canister_update cycles_add_without_call_new, canister_update cycles_add_over_balance,
;;   canister_update perform_with_liquid_balance, memory
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject_code" (func $reject_code (result i32)))
  (import "ic0" "canister_self_size" (func $self_size (result i32)))
  (import "ic0" "canister_self_copy" (func $self_copy (param i32 i32 i32)))
  (import "ic0" "canister_cycle_balance128" (func $balance128 (param i32)))
  (import "ic0" "canister_liquid_cycle_balance128" (func $liquid_balance128 (param i32)))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_data_append" (func $call_data_append (param i32 i32)))
  (import "ic0" "call_cycles_add128" (func $call_cycles_add128 (param i64 i64)))
  (import "ic0" "call_perform" (func $call_perform (result i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $on_reply $on_reject)
  (data (i32.const 0) "DIDL\00\01\78")
  (data (i32.const 32) "DIDL\00\00")
  (data (i32.const 200) "ping")

  (func $reply_nat64 (param $value i64)
    (i64.store (i32.const 7) (local.get $value))
    (call $reply_append (i32.const 0) (i32.const 15))
    (call $reply))

  ;; call_new(self, "ping", reply -> table[0], reject -> table[1]), empty Candid argument
  (func $new_ping_call
    (call $self_copy (i32.const 100) (i32.const 0) (call $self_size))
    (call $call_new
      (i32.const 100) (call $self_size)
      (i32.const 200) (i32.const 4)
      (i32.const 0) (i32.const 0)
      (i32.const 1) (i32.const 0))
    (call $call_data_append (i32.const 32) (i32.const 6)))

  (func $on_reply (param $env i32)
    (call $reply_nat64 (i64.const 1)))

  (func $on_reject (param $env i32)
    (call $reply_nat64 (i64.add (i64.const 1000) (i64.extend_i32_u (call $reject_code)))))

  (func (export "canister_update ping")
    (call $reply_append (i32.const 32) (i32.const 6))
    (call $reply))

  (func (export "canister_update perform_ok")
    (call $new_ping_call)
    (if (i32.ne (call $call_perform) (i32.const 0))
      (then (call $reply_nat64 (i64.const 999)))))

  (func (export "canister_update data_append_without_call_new")
    (call $call_data_append (i32.const 32) (i32.const 6))
    (call $reply_nat64 (i64.const 0)))

  (func (export "canister_update perform_without_call_new")
    (call $reply_nat64 (i64.extend_i32_u (call $call_perform))))

  (func (export "canister_update cycles_add_without_call_new")
    (call $call_cycles_add128 (i64.const 0) (i64.const 1))
    (call $reply_nat64 (i64.const 0)))

  (func (export "canister_update cycles_add_over_balance")
    (local $lo i64)
    (local $hi i64)
    (call $new_ping_call)
    (call $balance128 (i32.const 300))
    (local.set $lo (i64.add (i64.load (i32.const 300)) (i64.const 1)))
    (local.set $hi (i64.add (i64.load (i32.const 308)) (i64.extend_i32_u (i64.eqz (local.get $lo)))))
    (call $call_cycles_add128 (local.get $hi) (local.get $lo))
    (call $reply_nat64 (i64.extend_i32_u (call $call_perform))))

  (func (export "canister_update perform_with_liquid_balance")
    (call $new_ping_call)
    (call $liquid_balance128 (i32.const 300))
    (call $call_cycles_add128 (i64.load (i32.const 308)) (i64.load (i32.const 300)))
    (call $reply_nat64 (i64.extend_i32_u (call $call_perform))))
)
