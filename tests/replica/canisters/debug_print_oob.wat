;; debug_print_oob.wat: ic0.debug_print never traps, even with an out-of-bounds range.
;; (The IC prints a placeholder such as "(debug message out of memory bounds)" instead.)
;; Memory is exactly 1 page (65536 bytes).
;; Expected:
;;   update "print_ok"        -> prints "hello from debug_print_oob", replies "DIDL\00\00"
;;   update "print_past_end"  -> debug_print(65530, 100): no trap, replies "DIDL\00\00"
;;   update "print_wrapping"  -> debug_print(0xFFFFFFF0, 0x20) (u32 wrap): no trap, replies "DIDL\00\00"
;;   query  "print_in_query"  -> debug_print(65536, 1) in a query: no trap, replies "DIDL\00\00"
;;   update "trap_oob"        -> ic0.trap(65530, 100): traps with IC0503 (CanisterCalledTrap);
;;                               the message is a placeholder, the trap itself must still happen
;; Exports: canister_update print_ok, canister_update print_past_end,
;;   canister_update print_wrapping, canister_query print_in_query, canister_update trap_oob, memory
(module
  (import "ic0" "debug_print" (func $debug_print (param i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (data (i32.const 0) "DIDL\00\00")
  (data (i32.const 16) "hello from debug_print_oob")

  (func $reply_empty
    (call $reply_append (i32.const 0) (i32.const 6))
    (call $reply))

  (func (export "canister_update print_ok")
    (call $debug_print (i32.const 16) (i32.const 26))
    (call $reply_empty))

  (func (export "canister_update print_past_end")
    (call $debug_print (i32.const 65530) (i32.const 100))
    (call $reply_empty))

  (func (export "canister_update print_wrapping")
    (call $debug_print (i32.const 0xFFFFFFF0) (i32.const 0x20))
    (call $reply_empty))

  (func (export "canister_query print_in_query")
    (call $debug_print (i32.const 65536) (i32.const 1))
    (call $reply_empty))

  (func (export "canister_update trap_oob")
    (call $trap (i32.const 65530) (i32.const 100)))
)
