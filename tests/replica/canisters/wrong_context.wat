;; wrong_context.wat: System API calls made outside the contexts that allow them (ic-protocol.md §6.3).
;; Every call below that is not allowed traps with IC0504 (CanisterContractViolation, reject code 5).
;; Expected:
;;   update "reject_code_in_update"     -> msg_reject_code (only in reply/reject callbacks): IC0504
;;   update "reject_msg_in_update"      -> msg_reject_msg_size (only in reject callbacks): IC0504
;;   update "accept_message_in_update"  -> accept_message (only in canister_inspect_message): IC0504
;;   update "method_name_in_update"     -> msg_method_name_size (only in inspect_message): IC0504
;;   update "refunded_in_update"        -> msg_cycles_refunded128 (only in callbacks): IC0504
;;   update "data_certificate_in_update"-> data_certificate_size (only non-replicated queries): IC0504
;;   query  "certify_in_query"          -> certified_data_set (not in queries): IC0504
;;   query  "call_new_in_query"         -> call_new (not in queries): IC0504
;;   query  "timer_in_query"            -> global_timer_set (not in queries): IC0504
;;   query  "certificate_present"       -> replies (nat64) data_certificate_present(): 1 as a query
;;                                         call (non-replicated), 0 when run replicated (update call
;;                                         of a query method / inter-canister)
;;   update "ok"                        -> replies (nat64) 1 (control: calls only allowed APIs)
;; Exports: canister_update reject_code_in_update, canister_update reject_msg_in_update,
;;   canister_update accept_message_in_update, canister_update method_name_in_update,
;;   canister_update refunded_in_update, canister_update data_certificate_in_update,
;;   canister_query certify_in_query, canister_query call_new_in_query,
;;   canister_query timer_in_query, canister_query certificate_present, canister_update ok, memory
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject_code" (func $reject_code (result i32)))
  (import "ic0" "msg_reject_msg_size" (func $reject_msg_size (result i32)))
  (import "ic0" "accept_message" (func $accept_message))
  (import "ic0" "msg_method_name_size" (func $method_name_size (result i32)))
  (import "ic0" "msg_cycles_refunded128" (func $cycles_refunded128 (param i32)))
  (import "ic0" "data_certificate_size" (func $data_certificate_size (result i32)))
  (import "ic0" "data_certificate_present" (func $data_certificate_present (result i32)))
  (import "ic0" "certified_data_set" (func $certified_data_set (param i32 i32)))
  (import "ic0" "global_timer_set" (func $global_timer_set (param i64) (result i64)))
  (import "ic0" "canister_self_size" (func $self_size (result i32)))
  (import "ic0" "canister_self_copy" (func $self_copy (param i32 i32 i32)))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (table 1 funcref)
  (elem (i32.const 0) $ignore_callback)
  (data (i32.const 16) "DIDL\00\01\78")
  (data (i32.const 64) "ping")
  (data (i32.const 80) "certified")

  (func $ignore_callback (param $env i32))

  (func $reply_nat64 (param $value i64)
    (i64.store (i32.const 23) (local.get $value))
    (call $reply_append (i32.const 16) (i32.const 15))
    (call $reply))

  (func (export "canister_update reject_code_in_update")
    (call $reply_nat64 (i64.extend_i32_u (call $reject_code))))

  (func (export "canister_update reject_msg_in_update")
    (call $reply_nat64 (i64.extend_i32_u (call $reject_msg_size))))

  (func (export "canister_update accept_message_in_update")
    (call $accept_message)
    (call $reply_nat64 (i64.const 0)))

  (func (export "canister_update method_name_in_update")
    (call $reply_nat64 (i64.extend_i32_u (call $method_name_size))))

  (func (export "canister_update refunded_in_update")
    (call $cycles_refunded128 (i32.const 128))
    (call $reply_nat64 (i64.load (i32.const 128))))

  (func (export "canister_update data_certificate_in_update")
    (call $reply_nat64 (i64.extend_i32_u (call $data_certificate_size))))

  (func (export "canister_query certify_in_query")
    (call $certified_data_set (i32.const 80) (i32.const 9))
    (call $reply_nat64 (i64.const 0)))

  (func (export "canister_query call_new_in_query")
    ;; callee = this canister, method "ping"
    (call $self_copy (i32.const 200) (i32.const 0) (call $self_size))
    (call $call_new
      (i32.const 200) (call $self_size)
      (i32.const 64) (i32.const 4)
      (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0))
    (call $reply_nat64 (i64.const 0)))

  (func (export "canister_query timer_in_query")
    (call $reply_nat64 (call $global_timer_set (i64.const 1))))

  (func (export "canister_query certificate_present")
    (call $reply_nat64 (i64.extend_i32_u (call $data_certificate_present))))

  (func (export "canister_update ok")
    (drop (call $data_certificate_present))
    (call $reply_nat64 (i64.const 1)))
)
