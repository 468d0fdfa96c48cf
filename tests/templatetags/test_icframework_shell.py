"""The shell's navigation: a link for each app this project routes, "soon" for the others."""

from __future__ import annotations

from django.template import engines
from django.test import RequestFactory

from icframework.templatetags.icframework_shell import NavItem, nav_items


def test_routed_apps_are_links_and_the_others_are_coming_soon() -> None:
    assert nav_items("/chat/room/1") == [
        NavItem("Dashboard", "/", False),
        NavItem("Chat", "/chat/", True),
        NavItem("Marketplace", "/market/", False),
        NavItem("Social", "/social/", False),
        NavItem("Video", "", False),
    ]


def test_the_dashboard_is_current_only_at_the_root() -> None:
    assert [item.label for item in nav_items("/") if item.current] == ["Dashboard"]
    assert [item.label for item in nav_items("/market/") if item.current] == ["Marketplace"]
    assert not any(item.current for item in nav_items("/nowhere/"))


def test_the_shell_links_nothing_that_is_not_routed() -> None:
    html = engines["django"].get_template("icframework/base.html").render(
        {}, RequestFactory().get("/market/"))
    assert '<a href="/market/" aria-current="page">Marketplace</a>' in html
    assert '<a href="/social/">Social</a>' in html
    assert 'href="/video/"' not in html
    assert 'title="Video is coming soon"' in html


def test_the_shell_renders_without_a_request() -> None:
    html = engines["django"].get_template("icframework/base.html").render({})
    assert '<a href="/chat/">Chat</a>' in html and "aria-current" not in html
