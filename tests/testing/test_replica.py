"""`ControlledReplica`'s disk cache of compiled modules stays bounded."""

from __future__ import annotations

import os
from pathlib import Path

from icframework.testing._replica import prune_compiled_modules


def test_only_the_newest_compiled_modules_are_kept(tmp_path: Path) -> None:
    for age, name in enumerate(["e", "d", "c", "b", "a"]):  # "a" is the oldest
        path = tmp_path / f"{name}.cwasm"
        path.write_bytes(b"compiled")
        os.utime(path, (1_000_000 - age, 1_000_000 - age))
    (tmp_path / "notes.txt").write_text("not a compiled module", encoding="utf-8")
    prune_compiled_modules(tmp_path, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.cwasm", "e.cwasm", "notes.txt"]
    prune_compiled_modules(tmp_path / "missing", keep=2)  # no cache yet: nothing to do
