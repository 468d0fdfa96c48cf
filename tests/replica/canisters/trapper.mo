// Tests: atomicity: an update that changes state (and allocates) then traps must leave no trace (IC0503).
import Prim "mo:⛔";

persistent actor Trapper {
  var value : Nat = 0;
  var history : [Nat] = [];

  /// Stores `v` and returns it.
  public func set(v : Nat) : async Nat {
    value := v;
    history := Prim.Array_tabulate<Nat>(history.size() + 1, func i = if (i < history.size()) history[i] else v);
    v;
  };

  /// Stores `v`, allocates ~8 MB, then calls `ic0.trap`: everything is rolled back (IC0503).
  public func set_then_trap(v : Nat) : async Nat {
    value := v;
    history := Prim.Array_tabulate<Nat>(1_000_000, func _ = v);
    Prim.trap("trapper: rolled back");
  };

  /// Stores `v`, then fails an assertion (Motoko reports it through `ic0.trap`: IC0503).
  public func set_then_assert(v : Nat) : async Nat {
    value := v;
    assert false;
    v;
  };

  /// Stores `v`, then a Nat subtraction underflows (runtime trap through `ic0.trap`: IC0503).
  public func set_then_underflow(v : Nat) : async Nat {
    value := v;
    let zero : Nat = 0;
    zero - 1;
  };

  /// Traps inside a query: the reply is IC0503 and nothing could be kept anyway.
  public query func query_trap() : async Nat {
    Prim.trap("trapper: query trap");
  };

  public query func get() : async Nat { value };

  public query func history_size() : async Nat { history.size() };
};
