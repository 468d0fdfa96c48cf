"""Run every ``bench/bench_*.py`` benchmark and print (and save) their tables.

Each benchmark module exposes ``main() -> None`` and prints a plain-text table that
compares its figures with a reference measured in the same run. The combined output is
also written to ``bench/reports/latest.txt`` so runs can be compared.

Usage: ``python bench/run.py [name ...]`` (names without the ``bench_`` prefix).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import platform
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load benchmark {path}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as an import would: @dataclass looks its module up there.
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    wanted = set(argv)
    paths = sorted(BENCH_DIR.glob("bench_*.py"))
    if wanted:
        paths = [p for p in paths if p.stem.removeprefix("bench_") in wanted]
        if not paths:
            raise SystemExit(f"no benchmark named {sorted(wanted)}; see bench/bench_*.py")
    header = (
        f"icframework benchmarks, {time.strftime('%Y-%m-%d %H:%M:%S')}, "
        f"Python {platform.python_version()} on {platform.machine()}\n"
    )
    report = [header]
    print(header)
    for path in paths:
        title = f"== {path.stem} =="
        print(title, flush=True)
        buffer = io.StringIO()
        with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
            _load(path).main()  # type: ignore[attr-defined]
        report.append(f"{title}\n{buffer.getvalue()}")
        print()
    out_dir = BENCH_DIR / "reports"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "latest.txt").write_text("\n".join(report), encoding="utf-8")
    return 0


class _Tee(io.TextIOBase):
    def __init__(self, *streams: io.TextIOBase | object) -> None:
        self._streams = streams

    def write(self, text: str) -> int:
        for stream in self._streams:
            stream.write(text)  # type: ignore[attr-defined]
        return len(text)

    def flush(self) -> None:
        for stream in self._streams:
            stream.flush()  # type: ignore[attr-defined]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
