// Tests: the global timer via `system func timer`: fires once right after install, re-arms itself when an interval is set.
import Prim "mo:⛔";

persistent actor Timer {
  var fired : Nat = 0;
  var lastFiredAt : Nat64 = 0;
  var intervalNs : Nat64 = 0;  // 0 = do not re-arm after firing

  // The setter the runtime passes to `timer`, kept so that updates can re-arm the timer.
  transient var setter : ?(Nat64 -> ()) = null;

  system func timer(setGlobalTimer : Nat64 -> ()) : async () {
    fired += 1;
    lastFiredAt := Prim.time();
    setter := ?setGlobalTimer;
    if (intervalNs > 0) {
      setGlobalTimer(Prim.time() + intervalNs);
    };
  };

  /// How often `canister_global_timer` ran to completion.
  public query func count() : async Nat { fired };

  /// `ic0.time` seen by the last firing (0 if it never fired).
  public query func last_fired_at() : async Nat64 { lastFiredAt };

  /// Sets the re-arm interval used after the next firing.
  public func set_interval(ns : Nat64) : async () { intervalNs := ns };

  /// Arms the global timer `delayNs` from now; false if the timer has not fired yet in this
  /// module instance (the setter is only known after the first firing).
  public func arm(delayNs : Nat64) : async Bool {
    switch setter {
      case (?set) { set(Prim.time() + delayNs); true };
      case null false;
    };
  };

  /// Disarms the timer (global_timer_set(0)); false if the setter is not known yet.
  public func disarm() : async Bool {
    intervalNs := 0;
    switch setter {
      case (?set) { set(0); true };
      case null false;
    };
  };
};
