"""``manage.py cluster``: set up and inspect a scale-out cluster in PostgreSQL.

- ``cluster init --subnets root,app1,app2``: keys, ranges and delegations of the
  subnets (the first is the root); idempotent, a new name adds a subnet.
- ``cluster status``: subnets, canister ranges, lease holders and heights.
- ``cluster migrate CANISTER --to SUBNET``: move one canister to another subnet (its
  record, memory and key/value data, then the routing of its id and the subnets'
  delegations). With the writers of both subnets running, they do it online
  (`scaleout.migration`: the source stops the canister, the destination imports and
  starts it, the source drops it; the command waits, ``--timeout`` seconds at most);
  with both stopped, the command moves the rows itself under both leases.

The database comes from ``ICFRAMEWORK_DATABASE_URL``.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from icframework.core import Principal, PrincipalError
from icframework.scaleout import (
    MIGRATE_TIMEOUT_S,
    ScaleoutError,
    cluster_status,
    init_cluster,
    migrate_canister,
    migrate_online,
)

DATABASE_VARIABLE = "ICFRAMEWORK_DATABASE_URL"


class Command(BaseCommand):
    help = "Set up (init), inspect (status) or rebalance (migrate) a scale-out cluster."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        init = sub.add_parser("init", help="create the subnets' keys and register them")
        init.add_argument("--subnets", required=True,
                          help="comma-separated subnet names, the root first: root,app1,app2")
        sub.add_parser("status", help="subnets, ranges, lease holders and heights")
        migrate = sub.add_parser("migrate", help="move a canister to another subnet")
        migrate.add_argument("canister", help="the canister id")
        migrate.add_argument("--to", required=True, dest="to_subnet", help="the destination")
        migrate.add_argument("--timeout", type=float, default=MIGRATE_TIMEOUT_S,
                             help="seconds to wait for running writers to finish the move")

    def handle(self, *args: Any, **options: Any) -> None:
        url = os.environ.get(DATABASE_VARIABLE, "").strip()
        if not url:
            raise CommandError(f"{DATABASE_VARIABLE} is not set; set it to the cluster's "
                               "PostgreSQL URL")
        try:
            if options["action"] == "init":
                names = [n.strip() for n in options["subnets"].split(",") if n.strip()]
                added = init_cluster(url, names)
                self.stdout.write("registered " + (", ".join(added) if added else
                                                   "nothing new: the cluster is set up"))
            elif options["action"] == "status":
                self._status(url)
            else:
                try:
                    canister = Principal.from_text(options["canister"])
                except PrincipalError as exc:
                    raise CommandError(f"canister id {options['canister']!r}: {exc}") from exc
                source = self._migrate(url, canister, options["to_subnet"],
                                       options["timeout"])
                self.stdout.write(f"moved {canister.to_text()} from {source} to "
                                  f"{options['to_subnet']}")
        except ScaleoutError as exc:
            raise CommandError(str(exc)) from exc

    def _migrate(self, url: str, canister: Principal, to_subnet: str, timeout: float) -> str:
        running = {row.name for row in cluster_status(url) if row.holder is not None}
        if not running:
            return migrate_canister(url, canister, to_subnet)
        return migrate_online(url, canister, to_subnet, timeout_s=timeout,
                              progress=lambda phase: self.stdout.write(f"phase: {phase}"))

    def _status(self, url: str) -> None:
        rows = cluster_status(url)
        if not rows:
            self.stdout.write("no subnets; run `manage.py cluster init --subnets root,...`")
        for row in rows:
            role = "root" if row.is_root else "app"
            lease = "no writer"
            if row.holder is not None:
                lease = (f"writer {row.holder} (epoch {row.epoch}, "
                         f"{row.lease_seconds_left or 0.0:.1f} s left)")
            self.stdout.write(f"{row.name:<10} {role:<4} height {row.height:<8} {lease}")
            self.stdout.write(f"    id {row.subnet_id}")
            for canister_range in row.ranges:
                self.stdout.write(f"    range {canister_range}")
