// Benchmark canister (Motoko): the same logic as sdk_app.py (Python SDK).
// `*_body` methods return the instructions the body alone used (performance counter 0).
import Prim "mo:⛔";
import Map "mo:core/Map";
import Nat64 "mo:core/Nat64";

persistent actor Bench {
  var count : Nat64 = 0;
  let entries = Map.empty<Nat64, Nat64>();

  public query func noop() : async () {};

  public func noop_update() : async () {};

  public func increment() : async Nat64 {
    count += 1;
    count;
  };

  public query func get() : async Nat64 { count };

  func fibIter(n : Nat32) : Nat64 {
    var a : Nat64 = 0;
    var b : Nat64 = 1;
    var i : Nat32 = 0;
    while (i < n) {
      let next = a + b;
      a := b;
      b := next;
      i += 1;
    };
    a;
  };

  func fibRec(n : Nat32) : Nat64 {
    if (n < 2) { Prim.nat32ToNat64(n) } else { fibRec(n - 1) + fibRec(n - 2) };
  };

  func sumTo(n : Nat32) : Nat64 {
    var total : Nat64 = 0;
    var i : Nat32 = 0;
    while (i <= n) {
      total += Prim.nat32ToNat64(i);
      i += 1;
    };
    total;
  };

  func ackermann_(m : Nat64, n : Nat64) : Nat64 {
    if (m == 0) { n + 1 } else if (n == 0) { ackermann_(m - 1, 1) } else {
      ackermann_(m - 1, ackermann_(m, n - 1));
    };
  };

  public query func fib_iter(n : Nat32) : async Nat64 { fibIter(n) };
  public query func fib_rec(n : Nat32) : async Nat64 { fibRec(n) };
  public query func sum_to(n : Nat32) : async Nat64 { sumTo(n) };
  public query func ackermann(m : Nat32, n : Nat32) : async Nat64 {
    ackermann_(Prim.nat32ToNat64(m), Prim.nat32ToNat64(n));
  };

  public query func fib_iter_body(n : Nat32) : async Nat64 {
    let start = Prim.performanceCounter(0);
    ignore fibIter(n);
    Prim.performanceCounter(0) - start;
  };
  public query func fib_rec_body(n : Nat32) : async Nat64 {
    let start = Prim.performanceCounter(0);
    ignore fibRec(n);
    Prim.performanceCounter(0) - start;
  };
  public query func sum_to_body(n : Nat32) : async Nat64 {
    let start = Prim.performanceCounter(0);
    ignore sumTo(n);
    Prim.performanceCounter(0) - start;
  };
  public query func ackermann_body(m : Nat32, n : Nat32) : async Nat64 {
    let start = Prim.performanceCounter(0);
    ignore ackermann_(Prim.nat32ToNat64(m), Prim.nat32ToNat64(n));
    Prim.performanceCounter(0) - start;
  };

  public func fill(start : Nat64, size : Nat64) : async Nat64 {
    var key = start;
    while (key < start + size) {
      Map.add(entries, Nat64.compare, key, key * 2);
      key += 1;
    };
    start + size;
  };

  public query func map_get(key : Nat64) : async ?Nat64 {
    Map.get(entries, Nat64.compare, key);
  };

  public func map_insert(key : Nat64, value : Nat64) : async () {
    Map.add(entries, Nat64.compare, key, value);
  };
};
