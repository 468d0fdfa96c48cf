"""The shell's navigation: a link for each app this project routes, "soon" for the others."""

from __future__ import annotations

from django.template import engines
from django.test import RequestFactory, override_settings

from icframework.templatetags.icframework_shell import NavItem, nav_items


def test_every_reference_app_is_a_link() -> None:
    assert nav_items("/chat/room/1") == [
        NavItem("Dashboard", "/", False),
        NavItem("Chat", "/chat/", True),
        NavItem("Marketplace", "/market/", False),
        NavItem("Social", "/social/", False),
        NavItem("Video", "/video/", False),
    ]


@override_settings(ROOT_URLCONF="tests.templatetags.chat_only_urls")
def test_apps_a_project_does_not_route_are_coming_soon() -> None:
    assert nav_items("/chat/") == [
        NavItem("Dashboard", "", False),
        NavItem("Chat", "/chat/", True),
        NavItem("Marketplace", "", False),
        NavItem("Social", "", False),
        NavItem("Video", "", False),
    ]


def test_the_dashboard_is_current_only_at_the_root() -> None:
    assert [item.label for item in nav_items("/") if item.current] == ["Dashboard"]
    assert [item.label for item in nav_items("/market/") if item.current] == ["Marketplace"]
    assert not any(item.current for item in nav_items("/nowhere/"))


def test_the_shell_links_every_routed_app() -> None:
    html = engines["django"].get_template("icframework/base.html").render(
        {}, RequestFactory().get("/market/"))
    assert '<a href="/market/" aria-current="page">Marketplace</a>' in html
    assert '<a href="/social/">Social</a>' in html
    assert '<a href="/video/">Video</a>' in html


@override_settings(ROOT_URLCONF="tests.templatetags.chat_only_urls")
def test_the_shell_links_nothing_that_is_not_routed() -> None:
    html = engines["django"].get_template("icframework/base.html").render(
        {}, RequestFactory().get("/chat/"))
    assert '<a href="/chat/" aria-current="page">Chat</a>' in html
    assert 'href="/video/"' not in html
    assert 'title="Video is coming soon"' in html


def test_the_shell_renders_without_a_request() -> None:
    html = engines["django"].get_template("icframework/base.html").render({})
    assert '<a href="/chat/">Chat</a>' in html and "aria-current" not in html
