;; oob_copy.wat: *_copy System API calls whose source range or destination range is out of bounds.
;; The IC checks both ranges (with overflow-safe arithmetic) and reports a contract violation:
;; IC0504 (CanisterContractViolation, reject code 5), message like
;; "ic0.msg_arg_data_copy ...: src=0 + length=5 exceeds the slice size=4".
;; Memory is exactly 1 page (65536 bytes).
;; Expected:
;;   update "arg_copy_ok"          -> replies with the argument bytes unchanged (raw echo, control)
;;   update "arg_copy_past_end"    -> msg_arg_data_copy(dst 0, off 0, size arg_size + 1): IC0504
;;   update "arg_copy_offset_past" -> msg_arg_data_copy(dst 0, off arg_size + 1, size 0): IC0504
;;   update "arg_copy_wrapping"    -> msg_arg_data_copy(dst 0, off 0xFFFFFFFF, size 2) (u32 wrap): IC0504
;;   update "arg_copy_dst_oob"     -> msg_arg_data_copy(dst 65534, off 0, size arg_size) with arg_size >= 3: IC0504
;;   update "self_copy_dst_oob"    -> canister_self_copy(dst 65530, off 0, size self_size) (10 bytes): IC0504
;;   update "self_copy_src_oob"    -> canister_self_copy(dst 0, off 0, size self_size + 1): IC0504
;;   update "caller_copy_src_oob"  -> msg_caller_copy(dst 0, off 0, size caller_size + 1): IC0504
;;   update "self_copy_ok"         -> replies with the raw principal bytes of this canister (control)
;; Exports: canister_update arg_copy_ok, canister_update arg_copy_past_end,
;;   canister_update arg_copy_offset_past, canister_update arg_copy_wrapping,
;;   canister_update arg_copy_dst_oob, canister_update self_copy_dst_oob,
;;   canister_update self_copy_src_oob, canister_update caller_copy_src_oob,
;;   canister_update self_copy_ok, memory
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_caller_size" (func $caller_size (result i32)))
  (import "ic0" "msg_caller_copy" (func $caller_copy (param i32 i32 i32)))
  (import "ic0" "canister_self_size" (func $self_size (result i32)))
  (import "ic0" "canister_self_copy" (func $self_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)

  (func (export "canister_update arg_copy_ok")
    (call $arg_copy (i32.const 0) (i32.const 0) (call $arg_size))
    (call $reply_append (i32.const 0) (call $arg_size))
    (call $reply))

  (func (export "canister_update arg_copy_past_end")
    (call $arg_copy (i32.const 0) (i32.const 0) (i32.add (call $arg_size) (i32.const 1)))
    (call $reply))

  (func (export "canister_update arg_copy_offset_past")
    (call $arg_copy (i32.const 0) (i32.add (call $arg_size) (i32.const 1)) (i32.const 0))
    (call $reply))

  (func (export "canister_update arg_copy_wrapping")
    (call $arg_copy (i32.const 0) (i32.const 0xFFFFFFFF) (i32.const 2))
    (call $reply))

  (func (export "canister_update arg_copy_dst_oob")
    (call $arg_copy (i32.const 65534) (i32.const 0) (call $arg_size))
    (call $reply))

  (func (export "canister_update self_copy_dst_oob")
    (call $self_copy (i32.const 65530) (i32.const 0) (call $self_size))
    (call $reply))

  (func (export "canister_update self_copy_src_oob")
    (call $self_copy (i32.const 0) (i32.const 0) (i32.add (call $self_size) (i32.const 1)))
    (call $reply))

  (func (export "canister_update caller_copy_src_oob")
    (call $caller_copy (i32.const 0) (i32.const 0) (i32.add (call $caller_size) (i32.const 1)))
    (call $reply))

  (func (export "canister_update self_copy_ok")
    (call $self_copy (i32.const 0) (i32.const 0) (call $self_size))
    (call $reply_append (i32.const 0) (call $self_size))
    (call $reply))
)
