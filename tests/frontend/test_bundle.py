"""The committed browser bundle is what ``make frontend`` builds, and it exports what pages use.

CI rebuilds the bundle (icframework/frontend/build.mjs, esbuild at the pinned version)
into a scratch file; it must equal icframework/static/icframework/ic.js byte for byte,
or someone changed the sources without running ``make frontend`` and committing the
result. Needs Node and ``npm ci`` (`requires_node`).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.frontend.node_runner import ROOT
from tests.node import requires_node

pytestmark = requires_node

BUNDLE = ROOT / "icframework" / "static" / "icframework" / "ic.js"
EXPORTS = [
    "Actor", "AnonymousIdentity", "CanisterSocket", "Certificate", "DerivedKeyMaterial",
    "DerivedPublicKey", "DidSyntaxError", "ECDSAKeyIdentity", "EncryptedVetKey", "HttpAgent",
    "IDL", "Principal", "TransportSecretKey", "WebCryptoEd25519Identity",
    "browserIdentity", "challengeMessage", "lookupResultToBuffer", "parseDid",
    "signCallEnvelope", "socketUrl",
]


def test_rebuilding_reproduces_the_committed_bundle(tmp_path: Path) -> None:
    rebuilt = tmp_path / "ic.js"
    subprocess.run(
        ["node", str(ROOT / "icframework" / "frontend" / "build.mjs"), str(rebuilt)],
        cwd=ROOT, check=True, capture_output=True,
    )
    assert rebuilt.read_bytes() == BUNDLE.read_bytes(), (
        f"{BUNDLE.relative_to(ROOT)} is not what icframework/frontend/ builds; "
        "run `make frontend` and commit the result"
    )


def test_the_bundle_loads_and_exports_the_page_api() -> None:
    script = (
        f"const m = await import({BUNDLE.as_uri()!r});"
        "console.log(JSON.stringify(Object.keys(m).sort()));"
    )
    proc = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    assert proc.stdout.strip() == str(EXPORTS).replace("'", '"').replace(", ", ",")


def test_the_bundle_names_no_local_paths() -> None:
    text = BUNDLE.read_text(encoding="utf-8")
    assert str(ROOT) not in text
    assert "node_modules/" not in text
