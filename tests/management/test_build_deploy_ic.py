"""``manage.py build/deploy --target ic``: options, limit checks and deploying a standard IC
module, chunked when it is over the 2 MiB ingress limit, into ``runreplica``.

Most modules are prebuilt (``deploy NAME --target ic --wasm PATH``): the Motoko counter of
the replica corpus, as it is and padded with random bytes to over 2 MiB and gzipped, and
a hand-made module importing WASI, which the IC would refuse. The last test builds the
counter template with the real IC target and deploys what ``build`` wrote.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
import wasmtime
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from icframework.agent import Agent
from icframework.candid import NAT, decode, encode
from icframework.core import Principal
from icframework.management.commands import build as build_command
from icframework.management.commands import deploy as deploy_command
from tests.agent.live_replica import running_replica
from tests.replica.corpus import motoko_wasm
from tests.replica.test_chunked_install import INGRESS_LIMIT, padded

EMPTY = encode([], [])


@pytest.fixture
def project(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    return tmp_path


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_replica(tmp_path_factory.mktemp("replica") / "state",
                         startup_seconds=60) as url:
        yield url


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def count(url: str, canister: str, method: str) -> int:
    agent = Agent(url, fetch_root_key=True)
    call = agent.update if method == "inc" else agent.query
    (value,) = decode(call(Principal.from_text(canister), method, EMPTY), [NAT])
    result: int = value
    return result


def test_help_names_the_targets_and_the_prebuilt_module_option() -> None:
    build_help = build_command.Command().create_parser("manage.py", "build").format_help()
    assert "--target {component,ic}" in build_help
    assert "standard IC module" in build_help and "--out" in build_help
    deploy_help = deploy_command.Command().create_parser("manage.py", "deploy").format_help()
    assert "--target {component,ic}" in deploy_help
    assert "--wasm PATH" in deploy_help and "1 MiB chunks" in deploy_help


def test_option_mistakes_are_command_errors(project: Path) -> None:
    with pytest.raises(CommandError, match="--out applies to --target ic only"):
        run("build", "--out", str(project / "out"))
    with pytest.raises(CommandError, match="add --target ic"):
        run("deploy", "x", "--wasm", "x.wasm")
    with pytest.raises(CommandError, match="name the canister it is for"):
        run("deploy", "a", "b", "--target", "ic", "--wasm", "x.wasm")


def test_a_module_breaking_an_ic_limit_is_not_deployed(project: Path, replica_url: str) -> None:
    wasi = project / "wasi.wasm"
    wasi.write_bytes(bytes(wasmtime.wat2wasm(
        '(module (import "wasi_snapshot_preview1" "fd_write" '
        '(func (param i32 i32 i32 i32) (result i32))))')))
    with pytest.raises(CommandError) as info:
        run("deploy", "wasi", "--target", "ic", "--wasm", str(wasi), "--network", replica_url)
    message = str(info.value)
    assert message.startswith(f"cannot deploy {wasi}: wasi: the module breaks 1 IC limit(s)")
    assert "imports: import wasi_snapshot_preview1.fd_write" in message
    assert not (project / ".icframework" / "canister_ids.json").exists()
    with pytest.raises(CommandError, match="cannot read the module"):
        run("deploy", "gone", "--target", "ic", "--wasm", str(project / "gone.wasm"),
            "--network", replica_url)


def test_deploy_a_large_gzipped_module_in_chunks_then_upgrade(
        project: Path, replica_url: str) -> None:
    large = gzip.compress(padded(motoko_wasm("counter"), INGRESS_LIMIT + 900_000), mtime=0)
    assert len(large) > INGRESS_LIMIT
    module = project / "counter.wasm.gz"
    module.write_bytes(large)

    out, err = run("deploy", "counter", "--target", "ic", "--wasm", str(module),
                   "--network", replica_url)
    first = re.fullmatch(r"counter: canister (\S+) \(created and installed, ([\d,]+) bytes, "
                         r"module (0x[0-9a-f]{64})\)", out)
    assert first, out
    canister = first[1]
    assert int(first[2].replace(",", "")) == len(large)
    assert "[build] checking counter against the IC's module limits" in err
    chunks = re.findall(r"\[deploy\] chunk (\d)/(\d): ([\d,]+) bytes", err)
    assert [(n, total) for n, total, _ in chunks] == [("1", "3"), ("2", "3"), ("3", "3")]
    did = (project / ".build" / "ic-modules" / "counter.did").read_text()
    assert "inc: () -> (nat);" in did  # from the module's candid:service section
    assert json.loads((project / ".icframework" / "canister_ids.json").read_text()) == {
        "counter": canister}
    assert count(replica_url, canister, "inc") == 1

    out, _ = run("deploy", "counter", "--target", "ic", "--wasm", str(module),
                 "--network", replica_url)
    assert out.startswith(f"counter: canister {canister} (unchanged, ")

    # A new module upgrades the canister; the Motoko heap (its count) is kept.
    module.write_bytes(gzip.compress(
        padded(motoko_wasm("counter"), INGRESS_LIMIT + 900_000, seed=99), mtime=0))
    out, err = run("deploy", "counter", "--target", "ic", "--wasm", str(module),
                   "--network", replica_url)
    assert out.startswith(f"counter: canister {canister} (upgraded, ")
    assert "[deploy] chunk 3/3" in err
    assert count(replica_url, canister, "get") == 1


def test_a_small_module_is_installed_in_one_message(project: Path, replica_url: str) -> None:
    module = project / "small.wasm"
    module.write_bytes(motoko_wasm("counter"))
    out, err = run("deploy", "small", "--target", "ic", "--wasm", str(module),
                   "--network", replica_url)
    assert re.fullmatch(r"small: canister \S+ \(created and installed, [\d,]+ bytes, "
                        r"module 0x[0-9a-f]{64}\)", out), out
    assert "[deploy] chunk" not in err


def test_build_the_counter_template_for_the_ic_and_deploy_it(
        tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        replica_url: str) -> None:
    """The real IC target: ``startdapp x --template counter``, ``build x --target ic``
    (the project's IC cache is shared, so only the first run links the runtime), the
    same bytes again from the cache, then ``deploy --target ic`` of the written module."""
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    run("startdapp", "x", "--template", "counter", "--directory", str(tmp_path))
    out_dir = tmp_path / "out"
    built, err = run("build", str(tmp_path / "x"), "--target", "ic", "--out", str(out_dir))
    lines = built.splitlines()
    first = re.fullmatch(r"x: ([\d,]+) bytes \(([\d,]+) gzipped\), module (0x[0-9a-f]{64}), "
                         r"(built in [\d.]+ s|cached)", lines[0])
    assert first, built
    assert lines[1].endswith("imports only ic0: True"), lines[1]
    assert lines[2] == f"  wrote {out_dir}/x.wasm, {out_dir}/x.wasm.gz, {out_dir}/x.did"
    assert "[build] checking x against the IC's module limits" in err
    gzipped = (out_dir / "x.wasm.gz").read_bytes()
    assert gzip.decompress(gzipped) == (out_dir / "x.wasm").read_bytes()
    assert "increment : () -> (nat)" in (out_dir / "x.did").read_text()
    assert first[3] == "0x" + hashlib.sha256(gzipped).hexdigest()

    again, _ = run("build", str(tmp_path / "x"), "--target", "ic", "--out", str(out_dir))
    assert again.splitlines()[0].endswith(f"module {first[3]}, cached")
    assert (out_dir / "x.wasm.gz").read_bytes() == gzipped

    settings.BASE_DIR = tmp_path
    deployed, err = run("deploy", "x", "--target", "ic", "--wasm", str(out_dir / "x.wasm.gz"),
                        "--network", replica_url)
    match = re.fullmatch(rf"x: canister (\S+) \(created and installed, [\d,]+ bytes, "
                         rf"module {first[3]}\)", deployed)
    assert match, deployed
    assert "[deploy] chunk 6/6" in err or "[deploy] chunk 7/7" in err, err
    agent = Agent(replica_url, fetch_root_key=True)
    canister = Principal.from_text(match[1])
    assert decode(agent.update(canister, "increment", EMPTY), [NAT]) == (1,)
    assert decode(agent.query(canister, "get", EMPTY), [NAT]) == (1,)
