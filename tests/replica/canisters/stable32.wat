;; stable32.wat: the deprecated 32-bit stable memory API (stable_size/grow/read/write) round trip.
;; Expected (fresh install, stable memory empty):
;;   update "roundtrip" -> stable_size = 0, stable_grow(1) returns 0, writes "hello world" at stable
;;                         offset 100, reads it back, compares; replies (nat64) stable_size() = 1;
;;                         traps with IC0503 "roundtrip mismatch" if the bytes differ.
;;                         A second call replies 2 (it grows by one more page each time).
;;   query  "read"      -> replies (blob) with the 11 bytes at stable offset 100:
;;                         "DIDL\01\6d\7b\01\00\0b" + "hello world" (after roundtrip)
;;   update "grow_too_much" -> stable_grow(65537) would exceed 4 GiB: returns -1 (no trap);
;;                         replies (int32) "DIDL\00\01\75" + ff ff ff ff
;;   update "read_oob"  -> stable_read(dst 0, offset stable_size*65536 - 4, size 8): reads past the
;;                         end of stable memory: trap, IC0502 (CanisterTrapped, "stable memory out of bounds")
;;   update "write_oob" -> stable_grow(1), then stable_write(offset 0, src 65530, size 16): the source
;;                         range is beyond the heap: trap (the current IC reports IC0502 with
;;                         "heap out of bounds"; treat IC0502 or IC0504 as acceptable)
;; Stable memory survives upgrade: after an upgrade "read" returns the same bytes.
;; Exports: canister_update roundtrip, canister_query read, canister_update grow_too_much,
;;   canister_update read_oob, canister_update write_oob, memory
(module
  (import "ic0" "stable_size" (func $stable_size (result i32)))
  (import "ic0" "stable_grow" (func $stable_grow (param i32) (result i32)))
  (import "ic0" "stable_read" (func $stable_read (param i32 i32 i32)))
  (import "ic0" "stable_write" (func $stable_write (param i32 i32 i32)))
  (import "ic0" "trap" (func $trap (param i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  (data (i32.const 0) "DIDL\00\01\78")
  (data (i32.const 32) "DIDL\00\01\75")
  (data (i32.const 400) "DIDL\01\6d\7b\01\00\0b")
  (data (i32.const 64) "hello world")
  (data (i32.const 96) "roundtrip mismatch")

  (func $reply_nat64 (param $value i64)
    (i64.store (i32.const 7) (local.get $value))
    (call $reply_append (i32.const 0) (i32.const 15))
    (call $reply))

  (func (export "canister_update roundtrip")
    (local $i i32)
    (drop (call $stable_grow (i32.const 1)))
    (call $stable_write (i32.const 100) (i32.const 64) (i32.const 11))
    (call $stable_read (i32.const 200) (i32.const 100) (i32.const 11))
    (loop $check
      (if (i32.ne (i32.load8_u (i32.add (i32.const 64) (local.get $i)))
                  (i32.load8_u (i32.add (i32.const 200) (local.get $i))))
        (then (call $trap (i32.const 96) (i32.const 18))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $check (i32.lt_u (local.get $i) (i32.const 11))))
    (call $reply_nat64 (i64.extend_i32_u (call $stable_size))))

  (func (export "canister_query read")
    (call $stable_read (i32.const 410) (i32.const 100) (i32.const 11))
    (call $reply_append (i32.const 400) (i32.const 21))
    (call $reply))

  (func (export "canister_update grow_too_much")
    (i32.store (i32.const 39) (call $stable_grow (i32.const 65537)))
    (call $reply_append (i32.const 32) (i32.const 11))
    (call $reply))

  (func (export "canister_update read_oob")
    (call $stable_read
      (i32.const 300)
      (i32.sub (i32.mul (call $stable_size) (i32.const 65536)) (i32.const 4))
      (i32.const 8))
    (call $reply_nat64 (i64.const 0)))

  (func (export "canister_update write_oob")
    (drop (call $stable_grow (i32.const 1)))
    (call $stable_write (i32.const 0) (i32.const 65530) (i32.const 16))
    (call $reply_nat64 (i64.const 0)))
)
