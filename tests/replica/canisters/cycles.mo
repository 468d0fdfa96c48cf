// Tests: cycles: balance, accepting attached cycles (rest refunded), burning, sending cycles with a call (uses the bundled mo:core).
import Cycles "mo:core/Cycles";
import Prim "mo:⛔";

persistent actor CyclesCanister {
  type Wallet = actor { deposit : () -> async Nat };

  var received : Nat = 0;

  /// Current cycle balance (canister_cycle_balance128).
  public query func balance() : async Nat { Cycles.balance() };

  /// Accepts all attached cycles; returns the amount accepted.
  public func deposit() : async Nat {
    let accepted = Cycles.accept<system>(Cycles.available());
    received += accepted;
    accepted;
  };

  /// Accepts at most `max` of the attached cycles; the rest goes back to the caller.
  public func deposit_up_to(max : Nat) : async Nat {
    let accepted = Cycles.accept<system>(max);
    received += accepted;
    accepted;
  };

  /// Reports the attached cycles without accepting any (all are refunded).
  public func available() : async Nat { Cycles.available() };

  /// Burns up to `amount` cycles; returns the amount burned.
  public func burn(amount : Nat) : async Nat { Cycles.burn<system>(amount) };

  /// Sends `amount` cycles with a call to `deposit` on `target`; returns (accepted, refunded).
  public func send(target : Principal, amount : Nat) : async (Nat, Nat) {
    let wallet = Prim.actorOfPrincipal<Wallet>(target);
    let accepted = await (with cycles = amount) wallet.deposit();
    (accepted, Cycles.refunded());
  };

  /// Total cycles accepted so far.
  public query func total_received() : async Nat { received };
};
