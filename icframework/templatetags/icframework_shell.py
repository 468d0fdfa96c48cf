"""The app shell's navigation: which of the dashboard and the apps have pages here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import Resolver404, resolve

__all__ = ["SHELL_APPS", "NavItem", "nav_items", "shell_nav"]

register = template.Library()

# (label, path) of every place the shell links to, in the order of its navigation bar
SHELL_APPS: tuple[tuple[str, str], ...] = (
    ("Dashboard", "/"),
    ("Chat", "/chat/"),
    ("Marketplace", "/market/"),
    ("Social", "/social/"),
    ("Video", "/video/"),
)


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation: ``url`` is empty when the app has no page yet."""

    label: str
    url: str
    current: bool


def _has_page(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def nav_items(current_path: str) -> list[NavItem]:
    """The shell's entries for a page at ``current_path``: a link for each app whose URL
    this project routes, a "coming soon" entry (no link) for the others."""
    items = []
    for label, path in SHELL_APPS:
        url = path if _has_page(path) else ""
        current = bool(url) and (current_path == path if path == "/"
                                 else current_path.startswith(path))
        items.append(NavItem(label, url, current))
    return items


def shell_nav(context: dict[str, Any]) -> list[NavItem]:
    """``{% shell_nav as nav %}``: `nav_items` for the request being rendered (none
    marked current when the template renders without a request)."""
    request = context.get("request")
    return nav_items(request.path if request is not None else "")


register.simple_tag(shell_nav, takes_context=True)
