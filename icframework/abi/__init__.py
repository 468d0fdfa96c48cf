"""The canister ABI: the WIT world Python canisters implement (``canister.wit``).

The world's version is part of its package name (``icframework:canister@0.2.0``) and
of every import the replica defines; bump it with any change to the WIT.
"""

from pathlib import Path

__all__ = ["ABI_VERSION", "WIT_PACKAGE", "WIT_PATH", "WORLD", "interface_name"]

WIT_PATH = Path(__file__).resolve().parent / "canister.wit"
"""The WIT file of the canister ABI."""

WIT_PACKAGE = "icframework:canister"
ABI_VERSION = "0.2.0"
WORLD = "python-canister"
"""The world the shared runtime component implements."""


def interface_name(interface: str) -> str:
    """The qualified name of an ABI interface, e.g. ``icframework:canister/ic0@0.2.0``."""
    return f"{WIT_PACKAGE}/{interface}@{ABI_VERSION}"
