"""``manage.py build [app ...]``: build Python canister apps (see `icframework.compiler.app_build`).

Without arguments it builds every app under ``apps/`` that has canister code. Per app it
prints the module's size, its module hash (as ``deploy`` and ``canister status`` show
it), whether it came from the cache, and the .did.
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
from icframework.deployments import format_module_hash, module_hash
from icframework.replica import pack_python_module


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
        "pack the module (cached under .build/apps). Example: manage.py build counter"
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("apps", nargs="*", help="app names (default: every app with code)")

    def handle(self, *args: Any, **options: Any) -> None:
        for app_dir in app_dirs(options["apps"]):
            result = build(app_dir, progress=lambda line: self.stderr.write(f"[build] {line}"))
            self.stdout.write(summary(result))
