// Tests: inter-canister calls: forward a call and return the reply, catch a callee trap as a reject, keep state changed before `await`.
import Prim "mo:⛔";

persistent actor class Caller(initialCallee : Principal) {
  type Callee = actor {
    set : Nat -> async Nat;
    set_then_trap : Nat -> async Nat;
    set_then_reject : Nat -> async Nat;
    echo : Text -> async Text;
    get : query () -> async Nat;
    no_such_method : () -> async ();
  };

  var callee : Principal = initialCallee;
  var attempts : Nat = 0;  // bumped before each `await`; must survive a rejected call
  var afterAwait : Nat = 0;  // bumped after an `await` that returned normally

  func calleeActor(p : Principal) : Callee {
    Prim.actorOfPrincipal<Callee>(p);
  };

  func describe(e : Error) : Text {
    let code = switch (Prim.errorCode(e)) {
      case (#system_fatal) "1";
      case (#system_transient) "2";
      case (#destination_invalid) "3";
      case (#canister_reject) "4";
      case (#canister_error) "5";
      case (#system_unknown) "6";
      case (#future n) debug_show n;
      case (#call_error { err_code }) "call_error " # debug_show err_code;
    };
    code # ": " # Prim.errorMessage(e);
  };

  /// The callee principal in use.
  public query func callee_id() : async Principal { callee };

  /// Changes the callee principal.
  public func set_callee(p : Principal) : async () { callee := p };

  /// Forwards `set(v)` to the callee and returns its reply (the callee's previous value).
  public func forward(v : Nat) : async Nat {
    attempts += 1;
    let reply = await calleeActor(callee).set(v);
    afterAwait += 1;
    reply;
  };

  /// Same as `forward` but to an explicitly given canister.
  public func forward_to(target : Principal, v : Nat) : async Nat {
    attempts += 1;
    let reply = await calleeActor(target).set(v);
    afterAwait += 1;
    reply;
  };

  /// Calls the callee's query method from an update (replicated query execution).
  public func read_remote() : async Nat {
    await calleeActor(callee).get();
  };

  /// Calls `set_then_trap`; the reject is caught and returned as "<reject code>: <message>".
  /// `attempts` changes before the await and is kept; the callee's state is rolled back.
  public func call_trapping(v : Nat) : async Text {
    attempts += 1;
    try {
      ignore await calleeActor(callee).set_then_trap(v);
      "no error";
    } catch (e) {
      describe(e);
    };
  };

  /// Calls `set_then_reject`; returns "4: callee: rejected <v>" and the callee keeps `v`.
  public func call_rejecting(v : Nat) : async Text {
    attempts += 1;
    try {
      ignore await calleeActor(callee).set_then_reject(v);
      "no error";
    } catch (e) {
      describe(e);
    };
  };

  /// Calls a method the callee does not export; expect "5: ..." with IC0536 in the message.
  public func call_missing() : async Text {
    attempts += 1;
    try {
      await calleeActor(callee).no_such_method();
      "no error";
    } catch (e) {
      describe(e);
    };
  };

  /// Forwards, then traps after the await: `attempts` (before the await) is kept,
  /// `afterAwait` is rolled back, the callee's state change is kept (IC0503 for this call).
  public func forward_then_trap(v : Nat) : async Nat {
    attempts += 1;
    ignore await calleeActor(callee).set(v);
    afterAwait += 1;
    Prim.trap("caller: trap after await");
  };

  /// Calls `echo` and returns the callee's view of who called (this canister).
  public func echo_via(t : Text) : async Text {
    await calleeActor(callee).echo(t);
  };

  /// (attempts, afterAwait)
  public query func counters() : async (Nat, Nat) {
    (attempts, afterAwait);
  };
};
