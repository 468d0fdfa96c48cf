"""``manage.py identity``: create, list, select and export the identities calls are signed with.

Identities are PEM files under ``$ICFRAMEWORK_HOME/identity/<name>/`` (default
``~/.config/icframework``), the layout and formats dfx uses; dfx's own plaintext
identities are listed and usable too. See `icframework.agent.identities`.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from icframework.agent import IdentityStore, IdentityStoreError


class Command(BaseCommand):
    help = (
        "Manage signing identities: new NAME | list | use NAME | whoami | principal [NAME] | "
        "export NAME | import NAME FILE.pem. Files are dfx-compatible PEM."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        new = actions.add_parser("new", help="create an identity with a fresh key")
        new.add_argument("name", help="the new identity's name (letters, digits, . _ - @)")
        new.add_argument(
            "--type",
            dest="key_type",
            choices=("ed25519", "secp256k1"),
            default="ed25519",
            help="key type (default ed25519; dfx's own default is secp256k1)",
        )
        new.add_argument("--force", action="store_true", help="overwrite an existing identity")
        actions.add_parser("list", help="list identities; * marks the selected one")
        use = actions.add_parser("use", help="select the identity later commands sign with")
        use.add_argument("name", help="identity name (see `manage.py identity list`)")
        actions.add_parser("whoami", help="print the selected identity's name")
        principal = actions.add_parser("principal", help="print an identity's principal")
        principal.add_argument("name", nargs="?", default=None,
                               help="identity name (default: the selected one)")
        export = actions.add_parser("export", help="print an identity's PEM (keep it secret)")
        export.add_argument("name", help="identity name (see `manage.py identity list`)")
        imported = actions.add_parser("import", help="store a PEM file (e.g. from dfx)")
        imported.add_argument("name", help="name to store it under")
        imported.add_argument("pem", type=Path, help="PEM file (Ed25519 or secp256k1 key)")
        imported.add_argument("--force", action="store_true",
                              help="overwrite an existing identity of that name")

    def handle(self, *args: Any, **options: Any) -> None:
        store = IdentityStore()
        try:
            getattr(self, "_" + options["action"].replace("import", "import_"))(store, options)
        except IdentityStoreError as exc:
            raise CommandError(str(exc)) from None

    def _new(self, store: IdentityStore, options: dict[str, Any]) -> None:
        identity = store.new(options["name"], key_type=options["key_type"], force=options["force"])
        self.stdout.write(
            f"Created identity {options['name']} ({options['key_type']}): "
            f"{identity.principal.to_text()}"
        )

    def _list(self, store: IdentityStore, options: dict[str, Any]) -> None:
        for info in store.list():
            mark = "*" if info.selected else " "
            source = "" if info.source == "icframework" else f"  ({info.source})"
            self.stdout.write(f"{mark} {info.name}{source}")

    def _use(self, store: IdentityStore, options: dict[str, Any]) -> None:
        store.use(options["name"])
        self.stdout.write(f"Using identity {options['name']}")

    def _whoami(self, store: IdentityStore, options: dict[str, Any]) -> None:
        self.stdout.write(store.selected())

    def _principal(self, store: IdentityStore, options: dict[str, Any]) -> None:
        self.stdout.write(store.principal(options["name"]).to_text())

    def _export(self, store: IdentityStore, options: dict[str, Any]) -> None:
        self.stdout.write(store.export(options["name"]), ending="")

    def _import_(self, store: IdentityStore, options: dict[str, Any]) -> None:
        path: Path = options["pem"]
        try:
            pem = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from None
        identity = store.import_pem(options["name"], pem, force=options["force"])
        self.stdout.write(f"Imported identity {options['name']}: {identity.principal.to_text()}")
