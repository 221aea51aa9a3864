"""The frame around every page: header (title, week selector, who is signed in), navigation, content."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
from dash import ALL, Input, Output, State, callback, html

from umm_dash import access
from umm_dash.components import week

THEME = {"primaryColor": "blue", "fontFamily": "-apple-system, BlinkMacSystemFont, Segoe UI, Roboto, sans-serif",
         "defaultRadius": "md"}
NAV = {"type": "shell-nav", "path": ALL}


def layout() -> dmc.MantineProvider:
    """The app's layout (a function: who is signed in is read per page load)."""
    return dmc.MantineProvider(dmc.AppShell([
        dmc.AppShellHeader(_header(), px="md"),
        dmc.AppShellNavbar(_navbar(), p="sm"),
        dmc.AppShellMain(dash.page_container, className="umm-main"),
    ], id="shell", header={"height": 60}, padding="md",
        navbar={"width": 230, "breakpoint": "sm", "collapsed": {"mobile": True}}), theme=THEME)


def _header() -> dmc.Group:
    return dmc.Group([
        dmc.Group([dmc.Burger(id="shell-burger", size="sm", hiddenFrom="sm", opened=False,
                              **{"aria-label": "menu"}),
                   dmc.Text("Unified-M", fw=700, size="lg", className="umm-brand")], gap="xs", wrap="nowrap"),
        week.selector(),
    ], h="100%", justify="space-between", wrap="nowrap")


def _navbar() -> dmc.Stack:
    pages = sorted(dash.page_registry.values(), key=lambda p: p["order"])
    links = [dmc.NavLink(label=p["name"], href=p["path"], id={"type": "shell-nav", "path": p["path"]},
                         description=p.get("description") or None, active=False) for p in pages]
    return dmc.Stack([dmc.Stack(links, gap=2), _visitor()], justify="space-between", h="100%")


def _visitor() -> dmc.Stack:
    visitor = access.visitor() if access.has_request() else access.Visitor(None)
    role = visitor.role.name
    if visitor.key is None:
        who = dmc.Alert("No API keys exist, so anyone who can reach this address can use the dashboard. "
                        "Create one with `umm keys create` to require a login.", color="yellow", p="xs",
                        title="Open access", className="umm-open-access")
        return dmc.Stack([who], gap=4)
    return dmc.Stack([
        dmc.Text(visitor.name, size="sm", fw=600, id="shell-user"),
        dmc.Badge(role, color="blue" if role != "viewer" else "gray", variant="light", id="shell-role"),
        html.Form(html.Button("Sign out", type="submit", id="shell-logout", className="umm-signout"),
                  action="/logout", method="POST"),
    ], gap=4)


@callback(Output({"type": "shell-nav", "path": ALL}, "href"), Output({"type": "shell-nav", "path": ALL}, "active"),
          Output("shell-burger", "opened"),
          Input("_pages_location", "pathname"), Input("_pages_location", "search"), State(NAV, "id"))
def links(pathname: str | None, search: str | None, ids: list[dict]):
    """Every link keeps the week in the URL; the current page's link is highlighted; the phone menu closes."""
    chosen = week.week_of(search)
    suffix = week.search_with("", chosen) if chosen else ""
    return ([i["path"] + suffix for i in ids], [i["path"] == (pathname or "/") for i in ids], False)


@callback(Output("shell", "navbar"), Input("shell-burger", "opened"), State("shell", "navbar"))
def toggle(opened: bool, navbar: dict):
    return {**navbar, "collapsed": {"mobile": not opened}}
