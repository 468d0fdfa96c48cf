;; cycles.wat: the 128-bit cycles API: msg_cycles_available128 / msg_cycles_accept128 /
;; canister_cycle_balance128 / cycles_burn128, plus the deprecated 64-bit canister_cycle_balance.
;; Replies are Candid (nat) = "DIDL\00\01\7d" + unsigned LEB128, or (nat64) = "DIDL\00\01\78" + u64 LE.
;; Expected:
;;   query  "balance"        -> (nat) canister_cycle_balance128()
;;   query  "balance64"      -> (nat64) canister_cycle_balance() (the 32-bit-only 64-bit variant)
;;   update "available"      -> (nat) cycles attached to the call; none accepted, all refunded to the caller
;;   update "accept_all"     -> accepts everything attached; (nat) the amount accepted; balance grows by it
;;   update "accept_1000"    -> msg_cycles_accept128(max 1000); (nat) min(1000, attached)
;;   update "accept_twice"   -> accepts all, then accepts again; (nat) the second amount, i.e. 0
;;   update "burn_1000"      -> cycles_burn128(1000); (nat) the amount burned (1000 if the balance allows)
;;   query  "available_in_query" -> msg_cycles_available128 in a non-replicated query call: IC0504;
;;                              run replicated (update call / inter-canister) it replies (nat)
;; Ingress messages carry no cycles: "available" and "accept_all" reply (nat) 0 for ingress calls.
;; Exports: canister_query balance, canister_query balance64, canister_update available,
;;   canister_update accept_all, canister_update accept_1000, canister_update accept_twice,
;;   canister_update burn_1000, canister_query available_in_query, memory
(module
  (import "ic0" "msg_cycles_available128" (func $available128 (param i32)))
  (import "ic0" "msg_cycles_accept128" (func $accept128 (param i64 i64 i32)))
  (import "ic0" "canister_cycle_balance128" (func $balance128 (param i32)))
  (import "ic0" "canister_cycle_balance" (func $balance64 (result i64)))
  (import "ic0" "cycles_burn128" (func $burn128 (param i64 i64 i32)))
  (import "ic0" "msg_reply_data_append" (func $reply_append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory (export "memory") 1)
  ;; 0..16 and 16..32: 128-bit scratch values (little-endian: low u64, then high u64)
  (data (i32.const 256) "DIDL\00\01\78")
  (data (i32.const 512) "DIDL\00\01\7d")

  ;; reply (nat) with the 128-bit value stored at $src
  (func $reply_nat128_at (param $src i32)
    (local $lo i64)
    (local $hi i64)
    (local $pos i32)
    (local $byte i64)
    (local.set $lo (i64.load (local.get $src)))
    (local.set $hi (i64.load (i32.add (local.get $src) (i32.const 8))))
    (local.set $pos (i32.const 519))
    (block $done
      (loop $next
        (local.set $byte (i64.and (local.get $lo) (i64.const 0x7f)))
        (local.set $lo (i64.or (i64.shr_u (local.get $lo) (i64.const 7))
                               (i64.shl (local.get $hi) (i64.const 57))))
        (local.set $hi (i64.shr_u (local.get $hi) (i64.const 7)))
        (if (i64.eqz (i64.or (local.get $lo) (local.get $hi)))
          (then
            (i64.store8 (local.get $pos) (local.get $byte))
            (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
            (br $done)))
        (i64.store8 (local.get $pos) (i64.or (local.get $byte) (i64.const 0x80)))
        (local.set $pos (i32.add (local.get $pos) (i32.const 1)))
        (br $next)))
    (call $reply_append (i32.const 512) (i32.sub (local.get $pos) (i32.const 512)))
    (call $reply))

  (func (export "canister_query balance")
    (call $balance128 (i32.const 0))
    (call $reply_nat128_at (i32.const 0)))

  (func (export "canister_query balance64")
    (i64.store (i32.const 263) (call $balance64))
    (call $reply_append (i32.const 256) (i32.const 15))
    (call $reply))

  (func (export "canister_update available")
    (call $available128 (i32.const 0))
    (call $reply_nat128_at (i32.const 0)))

  (func (export "canister_update accept_all")
    (call $available128 (i32.const 0))
    (call $accept128 (i64.load (i32.const 8)) (i64.load (i32.const 0)) (i32.const 16))
    (call $reply_nat128_at (i32.const 16)))

  (func (export "canister_update accept_1000")
    (call $accept128 (i64.const 0) (i64.const 1000) (i32.const 16))
    (call $reply_nat128_at (i32.const 16)))

  (func (export "canister_update accept_twice")
    (call $available128 (i32.const 0))
    (call $accept128 (i64.load (i32.const 8)) (i64.load (i32.const 0)) (i32.const 16))
    (call $accept128 (i64.load (i32.const 8)) (i64.load (i32.const 0)) (i32.const 16))
    (call $reply_nat128_at (i32.const 16)))

  (func (export "canister_update burn_1000")
    (call $burn128 (i64.const 0) (i64.const 1000) (i32.const 16))
    (call $reply_nat128_at (i32.const 16)))

  (func (export "canister_query available_in_query")
    (call $available128 (i32.const 0))
    (call $reply_nat128_at (i32.const 0)))
)
