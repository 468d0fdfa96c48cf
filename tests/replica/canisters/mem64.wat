;; mem64.wat: a Wasm64 (memory64) canister: every pointer/size in the ic0 imports is i64.
;; Requires memory64 support in the engine; the 32-bit-only APIs (stable_*, 64-bit cycle calls) are absent.
;; Expected:
;;   update "inc"       -> counter (u64 at address 0) + 1; replies (nat64) "DIDL\00\01\78" + u64 LE
;;   query  "get"       -> replies (nat64) the counter
;;   query  "echo"      -> replies the raw argument bytes (msg_arg_data_size/copy with i64)
;;   update "roundtrip" -> stable64_grow(1) (returns the old size), stable64_write "memory64 ok" at
;;                         stable offset 4096, stable64_read into a second page grown with memory.grow
;;                         (address 65536 + 100); replies (blob) "DIDL\01\6d\7b\01\00\0b" + "memory64 ok"
;;   query  "stable_pages" -> replies (nat64) stable64_size()
;;   update "trap_msg"  -> ic0.trap with i64 pointers: IC0503, message "mem64 trap"
;; Exports: canister_update inc, canister_query get, canister_query echo, canister_update roundtrip,
;;   canister_query stable_pages, canister_update trap_msg, memory
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i64)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i64 i64 i64)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i64 i64)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "stable64_size" (func $stable64_size (result i64)))
  (import "ic0" "stable64_grow" (func $stable64_grow (param i64) (result i64)))
  (import "ic0" "stable64_write" (func $stable64_write (param i64 i64 i64)))
  (import "ic0" "stable64_read" (func $stable64_read (param i64 i64 i64)))
  (import "ic0" "debug_print" (func $debug_print (param i64 i64)))
  (import "ic0" "trap" (func $trap (param i64 i64)))
  (memory (export "memory") i64 1)
  (data (i64.const 16) "DIDL\00\01\78")
  (data (i64.const 48) "DIDL\01\6d\7b\01\00\0b")
  (data (i64.const 64) "memory64 ok")
  (data (i64.const 96) "mem64 trap")

  (func $reply_nat64 (param $value i64)
    (i64.store (i64.const 23) (local.get $value))
    (call $reply_append (i64.const 16) (i64.const 15))
    (call $reply))

  (func (export "canister_update inc")
    (i64.store (i64.const 0) (i64.add (i64.load (i64.const 0)) (i64.const 1)))
    (call $reply_nat64 (i64.load (i64.const 0))))

  (func (export "canister_query get")
    (call $reply_nat64 (i64.load (i64.const 0))))

  (func (export "canister_query echo")
    (call $arg_copy (i64.const 1024) (i64.const 0) (call $arg_size))
    (call $reply_append (i64.const 1024) (call $arg_size))
    (call $reply))

  (func (export "canister_update roundtrip")
    (drop (call $stable64_grow (i64.const 1)))
    (if (i64.lt_u (memory.size) (i64.const 2))
      (then (drop (memory.grow (i64.const 1)))))
    (call $stable64_write (i64.const 4096) (i64.const 64) (i64.const 11))
    ;; build the reply at 65536 + 90: 10 header bytes, then the 11 bytes read back
    (memory.copy (i64.const 65626) (i64.const 48) (i64.const 10))
    (call $stable64_read (i64.const 65636) (i64.const 4096) (i64.const 11))
    (call $debug_print (i64.const 65636) (i64.const 11))
    (call $reply_append (i64.const 65626) (i64.const 21))
    (call $reply))

  (func (export "canister_query stable_pages")
    (call $reply_nat64 (call $stable64_size)))

  (func (export "canister_update trap_msg")
    (call $trap (i64.const 96) (i64.const 10)))
)
