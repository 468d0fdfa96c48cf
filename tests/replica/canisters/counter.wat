;; counter.wat: minimal hand-written counter kept in Wasm memory (32-bit).
;; Expected:
;;   update "inc" -> replies (nat64) with the new value: "DIDL\00\01\78" + u64 LE (1, 2, ...)
;;   query  "get" -> replies (nat64) with the current value; starts at 0 after install
;;   The counter lives at memory address 0; it survives upgrade only with wasm_memory_persistence = keep.
;; Exports: canister_update inc, canister_query get, memory
(module
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  ;; address 0: the counter (u64); address 16: the Candid reply buffer
  (data (i32.const 16) "DIDL\00\01\78")

  (func $reply_nat64 (param $value i64)
    (i64.store (i32.const 23) (local.get $value))
    (call $reply_append (i32.const 16) (i32.const 15))
    (call $reply))

  (func (export "canister_update inc")
    (i64.store (i32.const 0) (i64.add (i64.load (i32.const 0)) (i64.const 1)))
    (call $reply_nat64 (i64.load (i32.const 0))))

  (func (export "canister_query get")
    (call $reply_nat64 (i64.load (i32.const 0))))
)
