"""``manage.py build [app ...]``: build Python canister apps (see `icframework.compiler.app_build`).

Without arguments it builds every app under ``apps/`` that has canister code. Per app it
prints the module's size, its module hash (as ``deploy`` and ``canister status`` show
it), whether it came from the cache, and the .did.

``--target ic`` builds a standard IC module instead (`icframework.compiler.ic_package`):
checked against the IC's module limits and written as ``<app>.wasm``, ``<app>.wasm.gz``
and ``<app>.did`` under ``.build/ic-modules`` (or ``--out``), ready for ``deploy
--target ic`` or any IC tool. The default target, ``component``, is the local replica's.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from icframework.compiler.app_build import (
    BuildError,
    BuildResult,
    build_app,
    find_apps,
    unknown_app_message,
)
from icframework.compiler.ic_package import IcPackage, IcPackageError, package_ic_module
from icframework.deployments import format_module_hash, module_hash
from icframework.replica import pack_python_module

TARGETS = ("component", "ic")


def apps_dir() -> Path:
    """``<project>/apps``."""
    return Path(settings.BASE_DIR) / "apps"


def cache_dir() -> Path:
    """``<project>/.build/apps``: where built modules are cached."""
    return Path(settings.BASE_DIR) / ".build" / "apps"


def app_dirs(names: list[str]) -> list[Path]:
    """The directories of the named apps (a name under ``apps/`` or a path), or every app;
    an unknown name is a `CommandError` suggesting the closest apps."""
    if not names:
        found = find_apps(apps_dir())
        if not found:
            raise CommandError(
                f"no app under {apps_dir()} has canister code; create one with "
                "`manage.py startdapp NAME --template counter`"
            )
        return found
    dirs = []
    for name in names:
        candidate = apps_dir() / name
        if not candidate.is_dir():
            candidate = Path(name)
        if not candidate.is_dir():
            raise CommandError(unknown_app_message(name, apps_dir()))
        dirs.append(candidate)
    return dirs


def build(app_dir: Path, progress: Any = None) -> BuildResult:
    """`build_app` with the project's cache; `BuildError` becomes `CommandError`."""
    try:
        return build_app(app_dir, pack_python_module, cache_dir=cache_dir(), progress=progress)
    except BuildError as exc:
        raise CommandError(f"cannot build {app_dir.name}: {exc}") from None


def ic_cache_dir() -> Path:
    """``<project>/.build/ic``: the IC target's toolchain, shared runtime and app cache."""
    return Path(settings.BASE_DIR) / ".build" / "ic"


def ic_out_dir() -> Path:
    """``<project>/.build/ic-modules``: where ``--target ic`` writes the modules."""
    return Path(settings.BASE_DIR) / ".build" / "ic-modules"


def build_ic(app_dir: Path, out_dir: Path, progress: Any = None) -> IcPackage:
    """`package_ic_module` with the project's cache; its errors become `CommandError`."""
    try:
        return package_ic_module(app_dir, cache_dir=ic_cache_dir(), out_dir=out_dir,
                                 progress=progress)
    except (BuildError, IcPackageError) as exc:
        raise CommandError(f"cannot build {app_dir.name} for the IC: {exc}") from None


def ic_summary(package: IcPackage) -> str:
    """Lines for an IC module: sizes, module hash, cache, the limits' counts, files."""
    facts = package.facts
    how = "cached" if package.cached else f"built in {package.seconds:.2f} s"
    return "\n".join([
        f"{package.name}: {facts.size:,} bytes ({len(package.installed):,} gzipped), module "
        f"{format_module_hash(package.module_hash)}, {how}",
        f"  code section {facts.code_section_size:,} bytes, {facts.functions:,} functions, "
        f"{facts.globals:,} globals, {facts.data_segments:,} data segments, "
        f"{len(facts.methods):,} methods; imports only ic0: "
        f"{all(m == 'ic0' for m, _, _ in facts.imports)}",
        f"  wrote {package.wasm_path}, {package.gzipped_path}, {package.did_path}",
    ])


def summary(result: BuildResult) -> str:
    """One line: name, size, module hash, cached or built, .did path."""
    how = "cached" if result.cached else f"built in {result.seconds:.2f} s"
    digest = format_module_hash(module_hash(result.wasm))
    return (
        f"{result.name}: {len(result.wasm):,} bytes, module {digest}, {how}, "
        f"did {result.did_path}"
    )


class Command(BaseCommand):
    help = (
        "Build Python canister apps: check the code with the SDK, write <app>/<name>.did and "
        "pack the module (cached under .build/apps). Example: manage.py build counter. "
        "With --target ic: a standard IC module (imports only ic0), checked against the IC's "
        "limits and written as <app>.wasm and <app>.wasm.gz under .build/ic-modules."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("apps", nargs="*", help="app names (default: every app with code)")
        parser.add_argument(
            "--target",
            choices=TARGETS,
            default="component",
            help="component (default): the module this project's replica runs; ic: a "
            "standard IC module for the Internet Computer (and this replica)",
        )
        parser.add_argument(
            "--out",
            default=None,
            help="with --target ic: directory for <app>.wasm, <app>.wasm.gz and <app>.did "
            "(default: .build/ic-modules)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["out"] is not None and options["target"] != "ic":
            raise CommandError("--out applies to --target ic only")
        for app_dir in app_dirs(options["apps"]):
            if options["target"] == "ic":
                out_dir = Path(options["out"]) if options["out"] else ic_out_dir()
                package = build_ic(
                    app_dir, out_dir, progress=lambda line: self.stderr.write(f"[build] {line}"))
                self.stdout.write(ic_summary(package))
                continue
            result = build(app_dir, progress=lambda line: self.stderr.write(f"[build] {line}"))
            self.stdout.write(summary(result))
