// Tests: stable memory through a Region: write a large generated blob (10 MB in the test), read it back, keep it across upgrade.
import Prim "mo:⛔";

persistent actor StableBlob {
  // Byte i of the stored blob is (seed + i) mod 256; it is written in 64 KiB chunks, and
  // since 65536 is a multiple of 256 every chunk is identical.
  let chunkSize : Nat = 65536;
  let region : Region = Prim.regionNew();
  var size : Nat = 0;
  var seed : Nat8 = 0;

  func chunk(s : Nat8) : Blob {
    Prim.arrayToBlob(Prim.Array_tabulate<Nat8>(chunkSize, func i = s +% Prim.natToNat8(i % 256)));
  };

  /// Stores `n` bytes generated from `s`; grows the region as needed; returns the region size in pages.
  public func store(n : Nat, s : Nat8) : async Nat64 {
    let pagesNeeded = Prim.natToNat64((n + 65535) / 65536);
    let have = Prim.regionSize(region);
    if (pagesNeeded > have) {
      let old = Prim.regionGrow(region, pagesNeeded - have);
      if (old == 0xFFFF_FFFF_FFFF_FFFF) Prim.trap("stable_blob: region grow failed");
    };
    let c = chunk(s);
    var offset = 0;
    while (offset + chunkSize <= n) {
      Prim.regionStoreBlob(region, Prim.natToNat64(offset), c);
      offset += chunkSize;
    };
    if (offset < n) {
      let tail = Prim.arrayToBlob(Prim.Array_tabulate<Nat8>(n - offset, func i = s +% Prim.natToNat8(i % 256)));
      Prim.regionStoreBlob(region, Prim.natToNat64(offset), tail);
    };
    size := n;
    seed := s;
    Prim.regionSize(region);
  };

  /// Number of bytes stored.
  public query func stored_size() : async Nat { size };

  /// Region size in 64 KiB pages.
  public query func pages() : async Nat64 { Prim.regionSize(region) };

  /// Sum of all stored bytes, read back from stable memory.
  public query func sum() : async Nat {
    var total = 0;
    var offset = 0;
    while (offset < size) {
      let len : Nat = if (offset + chunkSize > size) size - offset else chunkSize;
      for (b in Prim.regionLoadBlob(region, Prim.natToNat64(offset), len).vals()) {
        total += Prim.nat8ToNat(b);
      };
      offset += len;
    };
    total;
  };

  /// True iff every stored byte equals (seed + i) mod 256 (checked chunk by chunk).
  public query func verify() : async Bool {
    let c = chunk(seed);
    var offset = 0;
    var ok = true;
    while (ok and offset + chunkSize <= size) {
      ok := Prim.regionLoadBlob(region, Prim.natToNat64(offset), chunkSize) == c;
      offset += chunkSize;
    };
    if (ok and offset < size) {
      let tail = Prim.regionLoadBlob(region, Prim.natToNat64(offset), size - offset);
      var i = 0;
      for (b in tail.vals()) {
        if (b != seed +% Prim.natToNat8(i % 256)) ok := false;
        i += 1;
      };
    };
    ok;
  };

  /// Bytes [offset, offset + len) of the stored blob.
  public query func read(offset : Nat64, len : Nat) : async Blob {
    Prim.regionLoadBlob(region, offset, len);
  };
};
