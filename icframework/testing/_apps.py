"""The app's canister code loaded in this interpreter, shared by every canister of it.

A test module usually does ``APP = load_app(app_dir)`` to build argument values with the
app's classes (``APP.Account(...)``); a canister must then encode and decode with that
very module, or values decoded as another load's classes would not compare equal to
``APP``'s. `app_module` therefore reuses the module `load_app` registered.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

from icframework.compiler.app_build import collect_sources, load_app

__all__ = ["app_module"]


def app_module(app_dir: Path | str) -> types.ModuleType:
    """The app's canister code loaded in this interpreter: the module an earlier
    `load_app` of the same directory registered, else a new `load_app`."""
    app_dir = Path(app_dir).resolve()
    loaded = sys.modules.get(f"{collect_sources(app_dir).name}_canister")
    where = getattr(loaded, "__file__", None)
    if loaded is not None and where is not None and app_dir in Path(where).resolve().parents:
        return loaded
    return load_app(app_dir)
