"""``manage.py startdapp NAME --template blank|counter|todo|ledger``: scaffold a canister app.

Creates ``<directory>/NAME/`` with ``__init__.py``, ``canister.py``, ``tests/test_canister.py``
(tests that run the canister in plain CPython with ``LocalCanister``) and the app's page
(``urls.py``, ``views.py``, ``templates/NAME/index.html``), which ``runreplica`` serves at
``/NAME/`` once restarted (config.settings discovers the app). Names that would clash
with Python or the project are refused (`icframework.compiler.app_build.check_app_name`,
with the labels of the installed Django apps). The templates: ``blank`` (one query),
``counter`` (a stable counter), ``todo`` (a todo list) and ``ledger`` (an ICRC-1 +
ICRC-2 token ledger, installed with init arguments: see docs/ledger.md). See
`icframework.compiler.app_build`.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from icframework.compiler.app_build import TEMPLATES, ScaffoldError, scaffold_app


class Command(BaseCommand):
    help = (
        "Create a Python canister app from a template. "
        "Example: manage.py startdapp counter --template counter"
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name", help="the app's name (a Python identifier)")
        parser.add_argument(
            "--template",
            choices=TEMPLATES,
            default="blank",
            help="starting code: blank (one query), counter, todo, or ledger (an ICRC-1/ICRC-2 "
            "token; deploy it with --arg, see docs/ledger.md)",
        )
        parser.add_argument(
            "--directory", default="apps", help="where to create it (default: apps/ in the project)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        if not directory.is_absolute():
            directory = Path(settings.BASE_DIR) / directory
        labels = {config.label for config in apps.get_app_configs()}
        try:
            app_dir = scaffold_app(options["name"], options["template"], directory,
                                   reserved=labels)
        except ScaffoldError as exc:
            raise CommandError(str(exc)) from None
        name = options["name"]
        deploy = f"manage.py deploy {name}"
        if options["template"] == "ledger":
            deploy += " --arg '(variant { Init = record { ... } })' (see docs/ledger.md)"
        self.stdout.write(
            f"Created {app_dir} from the {options['template']} template.\n"
            f"  test:   pytest {app_dir / 'tests'}\n"
            f"  build:  manage.py build {name}\n"
            f"  deploy: {deploy}\n"
            f"  page:   /{name}/ on the replica (restart runreplica to serve it)"
        )
