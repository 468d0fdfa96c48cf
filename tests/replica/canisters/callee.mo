// Tests: the target of inter-canister calls: a normal reply, a trap after a state change (must roll back), and a query.
import Prim "mo:⛔";

persistent actor Callee {
  var value : Nat = 0;
  var calls : Nat = 0;

  /// Stores `v`, returns the previous value.
  public func set(v : Nat) : async Nat {
    calls += 1;
    let old = value;
    value := v;
    old;
  };

  /// Stores `v`, then traps: the store and the call count must be rolled back (IC0503, reject code 5).
  public func set_then_trap(v : Nat) : async Nat {
    calls += 1;
    value := v;
    Prim.trap("callee: set_then_trap refused " # debug_show v);
  };

  /// Rejects explicitly with `throw` (reject code 4, CANISTER_REJECT); the state change is kept.
  public func set_then_reject(v : Nat) : async Nat {
    calls += 1;
    value := v;
    throw Prim.error("callee: rejected " # debug_show v);
  };

  /// Returns its argument; the caller principal is observable by the caller's tests via `last_caller`.
  public shared ({ caller }) func echo(t : Text) : async Text {
    lastCaller := ?caller;
    t;
  };

  var lastCaller : ?Principal = null;

  public query func last_caller() : async ?Principal {
    lastCaller;
  };

  /// Current value.
  public query func get() : async Nat {
    value;
  };

  /// How many update calls changed state and were committed.
  public query func call_count() : async Nat {
    calls;
  };
};
