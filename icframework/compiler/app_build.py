"""Build a Python canister app: collect, validate, write its .did, pack, cache; scaffold apps.

An app is a directory (``apps/<name>/``) whose canister code is either one file,
``canister.py``, or a package, ``canister/`` (``__init__.py`` plus submodules, which
import each other relatively: ``from .models import Todo``). The code may import the
standard library and the packages bundled in the runtime (`BUNDLED_PACKAGES`:
``icframework.sdk`` and what it needs) and nothing else.

`build_app` then:

1. collects the sources and checks them statically (syntax, imports), reporting
   problems as `BuildError` with ``file:line``;
2. unless a build of exactly these sources is cached, loads them in plain CPython with
   the SDK (`load_app`, then ``load_canister`` against a fresh ``LocalBackend``), so
   exceptions at import time and type hints without a Candid equivalent are reported
   with ``file:line`` before anything is packed;
3. writes ``<app>/<name>.did`` (`icframework.sdk.service_did`) and packs the module
   with the packer it is given — the replica's ``pack_python_module``, which the
   compiler layer may not import itself — the .did embedded as ``candid:service``.

Builds are cached under ``<cache_dir>/<name>/<key>.wasm`` (and ``<key>.did``), where
the key hashes the sources, the module format and ABI and the runtime's own key (so
an SDK change rebuilds). Inside the runtime the canister module is named ``canister``;
a package app gets a small generated entry file that runs ``canister/__init__.py`` as
that package.

`scaffold_app` writes a new app from one of the templates under ``templates/``
(`TEMPLATES`: ``blank``, ``counter``, ``todo`` and ``ledger``, an ICRC-1 + ICRC-2 token
ledger, see docs/ledger.md); a template directory may override any of the common files
(``index.html.tmpl``, ``views.py.tmpl``, ...). Besides the canister it writes the app's
page (``urls.py``, ``views.py``, ``templates/<name>/index.html``), which the project's
settings discover and serve at ``/<name>/``. `check_app_name` refuses names that would
clash with Python or with the project, and `unknown_app_message` suggests close names
when a command is given one that does not exist.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib.util
import keyword
import os
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from icframework.abi import ABI_VERSION
from icframework.compiler.runtime_build import BUNDLED_PACKAGES, runtime_key

__all__ = [
    "DEFAULT_CACHE_DIR",
    "PACKAGE_ENTRY",
    "TEMPLATES",
    "TEMPLATE_DIR",
    "AppSources",
    "BuildError",
    "BuildResult",
    "Packer",
    "ScaffoldError",
    "build_app",
    "check_app_name",
    "collect_sources",
    "find_apps",
    "has_canister_code",
    "load_app",
    "scaffold_app",
    "unknown_app_message",
]

DEFAULT_CACHE_DIR = Path(".build/apps")
"""Where built app modules are cached, relative to the current directory."""
PACKAGE_ENTRY = "__canister_entry__.py"
"""The generated entry file of a package app (runs ``canister/__init__.py`` as ``canister``)."""
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATES = ("blank", "counter", "todo", "ledger")
"""The app templates ``startdapp --template`` offers (directories under `TEMPLATE_DIR`)."""

Progress = Callable[[str], None]
Packer = Callable[[Mapping[str, str], str, str | None], bytes]
"""``pack(files, entry, did) -> module bytes``: the replica's
``icframework.replica.execution.python_module.pack_python_module``, passed in by the caller
(the compiler sits beside the replica and may not import it)."""


class BuildError(Exception):
    """The app cannot be built; the message starts with ``file:line:`` when it has one."""


class ScaffoldError(Exception):
    """A new app cannot be created (bad name, existing directory, unknown template)."""


@dataclass(frozen=True, slots=True)
class AppSources:
    """An app's canister code: files by path inside the module (``canister.py`` or
    ``canister/...``), the entry file, and the directory they were read from."""

    name: str
    app_dir: Path
    files: dict[str, str]
    package: bool

    @property
    def entry(self) -> str:
        return PACKAGE_ENTRY if self.package else "canister.py"

    def module_files(self) -> dict[str, str]:
        """The files to pack: the sources, plus the generated entry of a package app."""
        if not self.package:
            return dict(self.files)
        entry = (
            "__path__ = []\n"
            "__package__ = 'canister'\n"
            "__file__ = 'canister/__init__.py'\n"
            f"exec(compile({self.files['canister/__init__.py']!r}, __file__, 'exec'), globals())\n"
        )
        return {**self.files, PACKAGE_ENTRY: entry}

    def disk_path(self, path: str) -> Path:
        """Where the file ``path`` (a key of `files`) is on disk."""
        return self.app_dir / path


@dataclass(frozen=True, slots=True)
class BuildResult:
    """A built app: the module, its .did, where both are, and whether it came from the cache."""

    name: str
    wasm: bytes
    wasm_path: Path
    did: str
    did_path: Path
    key: str
    cached: bool
    seconds: float


def _print_progress(message: str) -> None:
    print(f"[build] {message}", file=sys.stderr, flush=True)


def has_canister_code(app_dir: Path) -> bool:
    """Whether ``app_dir`` holds ``canister.py`` or a ``canister/`` package."""
    return (app_dir / "canister.py").is_file() or (app_dir / "canister" / "__init__.py").is_file()


def find_apps(apps_dir: Path) -> list[Path]:
    """Every app directory under ``apps_dir`` that has canister code, by name."""
    if not apps_dir.is_dir():
        return []
    return sorted(p for p in apps_dir.iterdir() if p.is_dir() and has_canister_code(p))


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is below it."""
    cwd = Path.cwd()
    return str(path.relative_to(cwd)) if path.is_absolute() and cwd in path.parents else str(path)


def collect_sources(app_dir: Path) -> AppSources:
    """Read the app's canister code (see the module docstring); `BuildError` if there is none
    or it is ambiguous."""
    app_dir = app_dir.resolve()
    name = app_dir.name
    single, package = app_dir / "canister.py", app_dir / "canister"
    if single.is_file() and package.is_dir():
        raise BuildError(
            f"{_shown(app_dir)} has both canister.py and canister/; keep one of them"
        )
    files: dict[str, str] = {}
    if single.is_file():
        paths = [single]
    elif (package / "__init__.py").is_file():
        paths = sorted(
            p for p in package.rglob("*.py") if "__pycache__" not in p.relative_to(app_dir).parts
        )
    else:
        raise BuildError(
            f"{_shown(app_dir)} has no canister code: write canister.py (or a canister/ "
            "package with __init__.py)"
        )
    for path in paths:
        rel = path.relative_to(app_dir).as_posix()
        try:
            files[rel] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BuildError(f"{_shown(path)}: cannot read it as UTF-8: {exc}") from None
    return AppSources(name, app_dir, files, package=not single.is_file())


def _module_of(path: str) -> str:
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _allowed_import(name: str) -> bool:
    top = name.split(".", 1)[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return True
    return name == "icframework" or any(
        name == p or name.startswith(p + ".") for p in BUNDLED_PACKAGES
    )


def check_sources(sources: AppSources) -> None:
    """Syntax and imports of every file, statically; `BuildError` with ``file:line``."""
    for path, text in sources.files.items():
        shown = _shown(sources.disk_path(path))
        try:
            tree = ast.parse(text, filename=shown)
        except SyntaxError as exc:
            raise BuildError(
                f"{shown}:{exc.lineno or 0}: SyntaxError: {exc.msg}"
                + (f"\n    {exc.text.strip()}" if exc.text else "")
            ) from None
        for node in ast.walk(tree):
            names: list[str] = []
            line = 0
            if isinstance(node, ast.Import):
                names, line = [alias.name for alias in node.names], node.lineno
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names, line = [node.module], node.lineno
            for imported in names:
                if imported.split(".", 1)[0] == "canister":
                    raise BuildError(
                        f"{shown}:{line}: import the app's own modules relatively "
                        f"(from .{imported.partition('.')[2] or 'module'} import ...), "
                        f"not as {imported!r}"
                    )
                if not _allowed_import(imported):
                    raise BuildError(
                        f"{shown}:{line}: {imported!r} is not available in a canister: "
                        "use the standard library and icframework.sdk "
                        f"({', '.join(BUNDLED_PACKAGES)})"
                    )


def _forget_module(name: str) -> None:
    from icframework.sdk.methods import forget

    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]
    forget(name)


def load_app(app_dir: Path, module_name: str | None = None) -> types.ModuleType:
    """Import the app's canister code in this interpreter, afresh, as ``module_name``
    (default ``<app>_canister``), for `icframework.sdk.LocalCanister` in tests.

    Registrations of an earlier load under that name are dropped first. Raises whatever
    the code raises (`build_app` turns that into a `BuildError`).
    """
    app_dir = Path(app_dir).resolve()
    sources = collect_sources(app_dir)
    name = module_name or f"{sources.name}_canister"
    _forget_module(name)
    if sources.package:
        init = app_dir / "canister" / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            name, init, submodule_search_locations=[str(init.parent)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, app_dir / "canister.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        _forget_module(name)
        raise
    return module


def _user_frame(exc: BaseException, sources: AppSources) -> str:
    """``file:line`` of the innermost traceback frame in the app's files, or ``''``."""
    paths = {str(sources.disk_path(p)) for p in sources.files}
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename in paths:
            where = f"{_shown(Path(filename))}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def _method_location(exc: Exception, module: str) -> str:
    """``file:line`` of the method a registration or type-hint error is about, or ``''``."""
    from icframework.sdk.dispatch import CompiledMethod
    from icframework.sdk.methods import methods_of
    from icframework.sdk.types import TypeMapper

    try:
        methods = methods_of(module)
    except Exception:
        return ""
    for method in methods:
        try:
            CompiledMethod(method, TypeMapper())
        except Exception:
            code = getattr(method.fn, "__code__", None)
            if code is not None:
                return f"{_shown(Path(code.co_filename))}:{_def_line(code)}"
    return ""


def _def_line(code: types.CodeType) -> int:
    """The line of the ``def`` itself (``co_firstlineno`` is that of the first decorator)."""
    try:
        lines = Path(code.co_filename).read_text(encoding="utf-8").splitlines()
    except OSError:
        return code.co_firstlineno
    for number in range(code.co_firstlineno, len(lines) + 1):
        if lines[number - 1].lstrip().startswith(("def ", "async def ")):
            return number
    return code.co_firstlineno


@contextmanager
def _local_backend() -> Iterator[None]:
    from icframework.sdk.backend import LocalBackend, set_backend

    previous = set_backend(LocalBackend())
    try:
        yield
    finally:
        set_backend(previous)


def validate(sources: AppSources) -> str:
    """Load the app with the SDK in plain CPython; returns its .did text.

    Raises `BuildError` naming ``file:line`` for exceptions while importing it and for
    methods whose hints have no Candid equivalent.
    """
    from icframework.sdk import load_canister, service_did

    check_sources(sources)
    name = f"_icframework_build_{sources.name}"
    with _local_backend():
        try:
            try:
                module = load_app(sources.app_dir, name)
            except Exception as exc:
                where = _user_frame(exc, sources)
                raise BuildError(
                    f"{where + ': ' if where else ''}{type(exc).__name__}: {exc}"
                ) from None
            try:
                canister = load_canister(module)
                return service_did(canister)
            except Exception as exc:
                where = _method_location(exc, name) or _user_frame(exc, sources)
                text = str(exc).replace(f"{name}.", "canister.")
                raise BuildError(
                    f"{where + ': ' if where else ''}{type(exc).__name__}: {text}"
                ) from None
        finally:
            _forget_module(name)


def build_key(sources: AppSources, pack: Packer) -> str:
    """The cache key: SHA-256 (16 hex digits) of the files, the ABI, the runtime's key and
    the module format (as the packer's output for an empty app)."""
    digest = hashlib.sha256()
    digest.update(f"abi {ABI_VERSION} runtime {runtime_key()}\0".encode())
    digest.update(pack({"a.py": ""}, "a.py", None) + b"\0")
    for path, text in sorted(sources.module_files().items()):
        digest.update(path.encode() + b"\0" + text.encode("utf-8") + b"\0")
    return digest.hexdigest()[:16]


def build_app(
    app_dir: Path,
    pack: Packer,
    *,
    cache_dir: Path | None = None,
    progress: Progress | None = _print_progress,
) -> BuildResult:
    """Build the app in ``app_dir`` (see the module docstring) into a module made by
    ``pack`` (`Packer`); raises `BuildError`."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    sources = collect_sources(Path(app_dir))
    key = build_key(sources, pack)
    cache = (cache_dir or DEFAULT_CACHE_DIR).resolve() / sources.name
    wasm_path, cached_did = cache / f"{key}.wasm", cache / f"{key}.did"
    did_path = sources.app_dir / f"{sources.name}.did"
    if wasm_path.is_file() and cached_did.is_file():
        wasm, did = wasm_path.read_bytes(), cached_did.read_text(encoding="utf-8")
        _write_if_changed(did_path, did)
        return BuildResult(
            sources.name, wasm, wasm_path, did, did_path, key, True,
            time.perf_counter() - started,
        )
    say(f"{sources.name}: checking {len(sources.files)} file(s) with the SDK")
    did = validate(sources)
    say(f"{sources.name}: writing {_shown(did_path)}")
    _write_if_changed(did_path, did)
    try:
        wasm = pack(sources.module_files(), sources.entry, did)
    except Exception as exc:  # the packer's own validation (InvalidModuleError): size, names
        raise BuildError(f"{_shown(sources.app_dir)}: {exc}") from None
    cache.mkdir(parents=True, exist_ok=True)
    _write_atomically(cached_did, did.encode("utf-8"))
    _write_atomically(wasm_path, wasm)
    seconds = time.perf_counter() - started
    say(f"{sources.name}: packed {len(wasm):,} bytes as {key}.wasm in {seconds:.2f} s")
    return BuildResult(sources.name, wasm, wasm_path, did, did_path, key, False, seconds)


def _write_if_changed(path: Path, text: str) -> None:
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    path.write_text(text, encoding="utf-8")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# -- scaffolding -------------------------------------------------------------------------------

_PLACEHOLDER = "__APP_NAME__"
# template file -> where it goes in the new app ({name} is the app's name)
_LAYOUT = {
    "canister.py.tmpl": "canister.py",
    "index.html.tmpl": "templates/{name}/index.html",
    "test_canister.py.tmpl": "tests/test_canister.py",
    "urls.py.tmpl": "urls.py",
    "views.py.tmpl": "views.py",
}
RESERVED_NAMES = frozenset(
    {"api", "apps", "config", "manage", "static", "templates", "test", "tests", "ws"}
)
"""Names of the project's own directories, modules and URL prefixes (``/api/``, ``/static/``,
``/ws/``), which an app may not take."""


def check_app_name(name: str, directory: Path, reserved: Iterable[str] = ()) -> None:
    """Refuse an app name that is no Python identifier, is private (``_x``, ``__init__``),
    a keyword, a standard-library or installed module, one of `RESERVED_NAMES` or
    ``reserved`` (e.g. the labels of the project's Django apps), or that clashes with an
    entry of ``directory`` ignoring case; `ScaffoldError` naming the fix."""
    if not name.isidentifier() or keyword.iskeyword(name) or not name.isascii():
        raise ScaffoldError(
            f"{name!r} is not a valid app name: use a Python identifier such as "
            f"{_suggest(name)!r} (letters, digits and underscores, not starting with a digit)"
        )
    alternative = f"my_{name.strip('_') or 'app'}"
    if name.startswith("_"):
        raise ScaffoldError(
            f"{name!r} is not a valid app name: names starting with an underscore are "
            f"private to Python (__init__, __main__, ...); choose e.g. {alternative!r}"
        )
    if name in sys.stdlib_module_names:
        raise ScaffoldError(
            f"{name!r} is the name of a standard-library module: an app of that name would "
            f"shadow it wherever its directory is on the import path (tests, scripts); "
            f"choose e.g. {alternative!r}"
        )
    taken = {n.lower(): n for n in (*RESERVED_NAMES, *reserved)}
    if name.lower() in taken:
        raise ScaffoldError(
            f"{name!r} is taken by the project ({taken[name.lower()]!r}: its own code, "
            f"tests or one of its Django apps); choose e.g. {alternative!r}"
        )
    if _importable(name):
        raise ScaffoldError(
            f"{name!r} is the name of an installed Python module: an app of that name would "
            f"shadow it wherever its directory is on the import path; choose e.g. "
            f"{alternative!r}"
        )
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name.lower() == name.lower() and entry.name != name:
                raise ScaffoldError(
                    f"{name!r} differs only in case from {_shown(entry)}: on a case-insensitive "
                    "file system (macOS, Windows) they are the same directory; choose another "
                    "name, or remove or rename the existing one"
                )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return True


def scaffold_app(
    name: str, template: str, directory: Path, *, reserved: Iterable[str] = ()
) -> Path:
    """Create ``directory/name/`` from ``template``; returns the app directory.

    Raises `ScaffoldError` if `check_app_name` refuses ``name`` (``reserved`` as there),
    the directory exists, or the template is unknown.
    """
    check_app_name(name, directory, reserved)
    if template not in TEMPLATES:
        raise ScaffoldError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    app_dir = directory / name
    if app_dir.exists():
        raise ScaffoldError(
            f"{_shown(app_dir)} already exists: choose another name, or remove or rename it"
        )
    if not directory.exists():
        directory.mkdir(parents=True)
        (directory / "__init__.py").write_text("", encoding="utf-8")
    app_dir.mkdir()
    (app_dir / "__init__.py").write_text("", encoding="utf-8")
    (app_dir / "tests").mkdir()
    (app_dir / "tests" / "__init__.py").write_text("", encoding="utf-8")
    for source, target in _LAYOUT.items():
        common = TEMPLATE_DIR / source
        specific = TEMPLATE_DIR / template / source
        text = (specific if specific.is_file() else common).read_text(encoding="utf-8")
        out = app_dir / target.format(name=name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text.replace(_PLACEHOLDER, name), encoding="utf-8")
    return app_dir


def unknown_app_message(name: str, apps_dir: Path) -> str:
    """What to say when a command is given an app ``name`` that ``apps_dir`` does not have:
    the closest names (difflib), the apps there are, and how to create one."""
    apps = [p.name for p in find_apps(apps_dir)]
    close = difflib.get_close_matches(name, apps, n=3, cutoff=0.6)
    close += [a for a in apps if a.lower() == name.lower() and a not in close]
    hint = f": did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    known = f"the apps there are {', '.join(apps)}" if apps else "it has no app with canister code"
    return (
        f"no app {name!r} in {_shown(apps_dir)}{hint} ({known}; create one with "
        f"`manage.py startdapp {_suggest(name)} --template counter`)"
    )


def _suggest(name: str) -> str:
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    cleaned = cleaned.strip("_") or "my_app"
    return f"app_{cleaned}" if cleaned[0].isdigit() else cleaned
