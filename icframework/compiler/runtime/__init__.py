"""The guest side of the shared Python-canister runtime (bundled into the component).

`icframework_runtime` is compiled by componentize-py together with the canister ABI
(``icframework/abi/canister.wit``); it is never imported on the host. It imports the
generated ``wit_world`` bindings, which exist only inside the component, so mypy sees
them as missing imports (``ignore_missing_imports``) and types them as ``Any``.
`runtime_build` bundles every ``*.py`` file here except this one.
"""

from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent
"""Directory of the guest modules."""

GUEST_MODULE = "icframework_runtime"
"""The module componentize-py compiles (it defines the exported ``Canister`` class)."""
