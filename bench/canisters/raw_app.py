"""Benchmark canister on the bare runtime ABI (no SDK): the floor under ``sdk_app.py``."""

import icframework_runtime as rt

EMPTY = b"DIDL\x00\x00"


@rt.query
def noop(arg):
    return EMPTY


@rt.update
def noop_update(arg):
    return EMPTY
