// Tests: a persistent actor's update/query pair (`inc`, `get`) whose state survives upgrade (enhanced orthogonal persistence).
import Prim "mo:⛔";

persistent actor Counter {
  var count : Nat = 0;

  /// Increments the counter and returns the new value.
  public func inc() : async Nat {
    count += 1;
    count;
  };

  /// Reads the counter; changes made in a query would be discarded.
  public query func get() : async Nat {
    count;
  };

  /// Adds `n` and returns the new value (an update taking a Candid argument).
  public func add(n : Nat) : async Nat {
    count += n;
    count;
  };

  /// Number of the canister version as the Motoko runtime sees it (bumps on upgrade).
  public query func version() : async Nat64 {
    Prim.canisterVersion();
  };
};
