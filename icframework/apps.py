"""Django app registration for icframework (management commands, dashboard templates).

On start-up it also tells the replica how to load the shared Python runtime component
(built with componentize-py on first use, then cached by hash), which the replica
needs for Python canisters but may not import itself (it sits below the compiler).
"""

from django.apps import AppConfig


class IcFrameworkConfig(AppConfig):
    name = "icframework"
    verbose_name = "icframework"

    def ready(self) -> None:
        from icframework.compiler.runtime_build import load_runtime
        from icframework.replica import set_runtime_loader

        set_runtime_loader(load_runtime)
