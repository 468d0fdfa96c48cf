"""``manage.py runsubnet --subnet NAME [--holder ID]``: run a subnet's writer (or its standby).

The process takes the subnet's writer lease (a second one for the same subnet stands
by until the lease is released or expires), then executes the subnet's rounds on the
cluster's PostgreSQL state and the tasks of queue ``subnet.<NAME>``
(`icframework.scaleout.SubnetWriter`). Configuration from the environment:
``ICFRAMEWORK_DATABASE_URL``, ``ICFRAMEWORK_BROKER_URL``, ``ICFRAMEWORK_REDIS_URL``.
Ctrl-C or SIGTERM stop it and release the lease; a lost lease ends it with status 3.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from icframework.scaleout import ClusterConfig, ScaleoutError, SubnetWriter


class Command(BaseCommand):
    help = "Run the writer of one subnet of a scale-out cluster (a standby while another holds it)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--subnet", required=True, help="the subnet's name, e.g. app1")
        parser.add_argument("--holder", default=None,
                            help="this process's name in the lease (default host:pid)")
        parser.add_argument("--ttl", type=float, default=3.0,
                            help="seconds a lease lives without renewal (default 3)")
        parser.add_argument("--idle-round", type=float, default=1.0,
                            help="seconds between rounds when nothing waits (default 1)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = ClusterConfig.from_env()
            writer = SubnetWriter(config, options["subnet"], options["holder"],
                                  ttl_s=options["ttl"], idle_round_s=options["idle_round"],
                                  out=self.stdout)
        except ScaleoutError as exc:
            raise CommandError(str(exc)) from exc
        status = writer.run()
        if status:
            sys.exit(status)
