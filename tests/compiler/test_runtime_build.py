"""The shared runtime's build: cache keys, cached builds, failures, the WIT and guest rules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from icframework import abi
from icframework.compiler import runtime_build
from icframework.compiler.runtime import GUEST_MODULE, RUNTIME_DIR
from tests.compiler.runtime_support import CACHE_DIR, runtime, runtime_component

__all__ = ["runtime"]


def test_wit_declares_the_versioned_package_and_world() -> None:
    text = abi.WIT_PATH.read_text(encoding="utf-8")
    assert f"package {abi.WIT_PACKAGE}@{abi.ABI_VERSION};" in text
    assert f"world {abi.WORLD} {{" in text
    assert abi.interface_name("kv") == "icframework:canister/kv@0.2.0"


def test_wit_carries_bytes_as_the_blob_alias() -> None:
    # Bytes are `blob` (list<u8>), which the sandbox converts in bulk; spelling list<u8>
    # elsewhere would hide a byte payload from the converters' tests. ic0 declares it, and
    # kv its own (the runtime build hands the store's blobs to the host as latin-1 text).
    lines = abi.WIT_PATH.read_text(encoding="utf-8").splitlines()
    code = [line.strip() for line in lines if not line.strip().startswith("//")]
    assert [line for line in code if "list<u8>" in line] == ["type blob = list<u8>;"] * 2


def _bundled(module: str) -> bool:
    return module == "icframework" or any(
        module == package or module.startswith(package + ".")
        for package in runtime_build.BUNDLED_PACKAGES
    )


def test_guest_code_imports_only_the_standard_library_and_bundled_packages() -> None:
    for name, source in runtime_build.guest_sources().items():
        tree = ast.parse(source, filename=name)
        # only the glue sees the generated bindings; the bundled packages run on the host too
        extra = {"__future__", "wit_world"} if "/" not in name else {"__future__"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative imports stay inside the bundled package
                    continue
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                assert top in sys.stdlib_module_names or top in extra or _bundled(module), (
                    f"{name}:{node.lineno} imports {module}: the runtime bundles only the "
                    "standard library and " + ", ".join(runtime_build.BUNDLED_PACKAGES)
                )


def test_guest_sources_bundle_the_sdk_and_what_it_needs() -> None:
    names = set(runtime_build.guest_sources())
    for path in (
        "icframework/__init__.py",
        "icframework/core/__init__.py",
        "icframework/candid/binary.py",
        "icframework/sdk/__init__.py",
        "icframework/sdk/runtime_backend.py",
    ):
        assert path in names
    assert not [n for n in names if n.startswith(("icframework/replica", "icframework/compiler"))]


def test_guest_sources_exclude_the_host_package_file() -> None:
    names = set(runtime_build.guest_sources())
    assert f"{GUEST_MODULE}.py" in names
    assert "__init__.py" not in names
    assert (RUNTIME_DIR / "__init__.py").exists()


def test_key_changes_with_a_guest_source(monkeypatch: pytest.MonkeyPatch) -> None:
    key = runtime_build.runtime_key()
    assert key == runtime_build.runtime_key()
    sources = runtime_build.guest_sources()
    sources[f"{GUEST_MODULE}.py"] += b"\n# edited\n"
    monkeypatch.setattr(runtime_build, "guest_sources", lambda: sources)
    edited = runtime_build.runtime_key()
    assert edited != key
    sources["icframework/sdk/dispatch.py"] += b"\n# edited\n"
    assert runtime_build.runtime_key() != edited


def test_key_changes_with_the_bulk_bytes_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    key = runtime_build.runtime_key()
    monkeypatch.setattr(runtime_build.bulk_bytes, "SOURCE_DIGEST", "0" * 64)
    assert runtime_build.runtime_key() != key


def test_second_build_comes_from_the_cache() -> None:
    runtime_component()  # makes sure a build exists
    artifact = runtime_build.build_runtime(CACHE_DIR, progress=None)
    assert artifact.cached
    assert artifact.path == CACHE_DIR.resolve() / f"{artifact.key}.wasm"
    # A component, not a core module: magic, then version 0x0d and layer 1.
    assert artifact.wasm[:8] == b"\0asm\x0d\x00\x01\x00"


def test_failed_build_raises_with_the_tool_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(stage: Path, output: Path) -> list[str]:
        return [sys.executable, "-c", "import sys; print('no world here'); sys.exit(3)"]

    monkeypatch.setattr(runtime_build, "_componentize_command", failing)
    messages: list[str] = []
    with pytest.raises(runtime_build.BuildError, match=r"exit 3\)(.|\n)*no world here"):
        runtime_build.build_runtime(tmp_path, force=True, progress=messages.append)
    assert messages and "componentize-py" in messages[0]
    assert not list(tmp_path.glob("*.wasm"))


def test_runtime_exports_the_canister_interface(runtime: tuple[object, object]) -> None:
    engine, compiled = runtime_component()
    exports = compiled.type.exports(engine)
    assert abi.interface_name("canister") in exports
    imports = compiled.type.imports(engine)
    for interface in ("ic0", "kv", "events"):
        assert abi.interface_name(interface) in imports
