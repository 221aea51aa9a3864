"""Who may see the dashboard, and the audit log of what they saw.

- **Login.** When the key store has any key (active or revoked), every page and callback needs a
  session: ``/login`` takes an API key in a POSTed form, checks it with the API's key store and sets
  a signed, HTTP-only session cookie holding the key's id (never the key). A key in a URL is refused
  (URLs end up in logs and browser history). With no key at all the dashboard is open (a fresh
  machine), and says so in its header.
- **Revocation.** Every request looks the session's key id up again (one ``stat`` of the key file),
  so a revoked key is logged out on its next click: a page load is redirected to ``/login``, a
  callback gets 401, and ``assets/session.js`` sends the browser to ``/login``.
- **Roles.** Viewer looks; the scenario planner needs analyst (:func:`role`).
- **Audit.** Pages and callbacks say what happened (:func:`record`: a page view, a scenario, a
  download); one ``after_request`` hook writes it to the API's audit log in the API's format.
"""

from __future__ import annotations

import datetime as dt
import html
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import flask

from umm_assets.lib.serving.audit import AuditLog, audit_line, key_in_url, redact_query
from umm_assets.lib.serving.keys import ApiKey, KeyStore, Role

PUBLIC = ("/_dash-component-suites/", "/assets/", "/_favicon.ico", "/login", "/logout")
CALLBACKS = "/_dash"  # /_dash-update-component, /_dash-layout, /_dash-dependencies
SESSION_KEY = "key_id"
REASONS = {"revoked": "Your key was revoked or has expired: sign in with another one.",
           "invalid": "That key is not valid (or was revoked).",
           "url": "API keys are not accepted in the URL: paste the key into the form instead, and consider "
                  "revoking the one you put in the link.",
           "signed_out": "You are signed out."}


@dataclass(frozen=True)
class Visitor:
    """Who is asking: a key, or nobody when the store has no keys (open access)."""

    key: ApiKey | None

    @property
    def role(self) -> Role:
        return self.key.level if self.key else Role.analyst

    @property
    def name(self) -> str:
        return self.key.name if self.key else "open access (no API keys exist)"


def install(server: flask.Flask, keys: KeyStore, audit: AuditLog, *, secret: str, session_hours: float,
            secure: bool) -> None:
    """Add the session gate, ``/login``, ``/logout`` and the audit hook to the dashboard's Flask server."""
    server.config.update(SECRET_KEY=secret, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=secure, SESSION_COOKIE_NAME="umm_dash_session",
                         PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=session_hours))

    @server.before_request
    def _gate():
        flask.g.started = time.perf_counter()
        if key_in_url(flask.request.query_string.decode("latin-1")):
            record("GET", flask.request.path, 400)
            return _login_page("url", status=400)
        if flask.request.path.startswith(PUBLIC):
            return None
        visitor = _visitor(keys)
        if visitor is None:
            # a refused request (no session, a forged or a revoked one) is audited like the API's 401s
            record(flask.request.method, flask.request.path, query=flask.request.query_string.decode("latin-1"))
            reason = "revoked" if flask.session.pop(SESSION_KEY, None) else None
            if flask.request.path.startswith(CALLBACKS):
                return flask.jsonify(detail="sign in again", login=_login_url(reason)), 401
            return flask.redirect(_login_url(reason, next_url=flask.request.full_path.rstrip("?")), 303)
        flask.g.visitor = visitor
        return None

    @server.route("/login", methods=["GET", "POST"])
    def _login():
        if flask.request.method == "GET":
            return _login_page(flask.request.args.get("reason"))
        key = keys.verify(flask.request.form.get("key", "").strip())
        if key is None:
            record("POST", "/login", 401)
            return _login_page("invalid", status=401)
        flask.session.clear()
        flask.session[SESSION_KEY] = key.id
        flask.session.permanent = True
        flask.g.visitor = Visitor(key)
        record("POST", "/login", 303)
        return flask.redirect(_local(flask.request.form.get("next")), 303)

    @server.route("/logout", methods=["POST"])
    def _logout():
        key_id = flask.session.pop(SESSION_KEY, None)
        flask.g.visitor = Visitor(keys.active(key_id)) if key_id else None
        record("POST", "/logout", 303)
        return flask.redirect(_login_url("signed_out"), 303)

    @server.after_request
    def _audit(response: flask.Response) -> flask.Response:
        event = flask.g.pop("audit", None)
        if event is None and response.status_code >= 400:  # any other refusal (405, 404, ...) is audited too
            event = (flask.request.method, flask.request.path, flask.request.query_string.decode("latin-1"), None)
        if event is not None:
            _write(audit, event, response.status_code)
        return response


def _visitor(keys: KeyStore) -> Visitor | None:
    if not keys.list():
        return Visitor(None)
    key_id = flask.session.get(SESSION_KEY)
    key = keys.active(key_id) if isinstance(key_id, str) and key_id else None  # a list would be a 500
    return Visitor(key) if key else None


def visitor() -> Visitor:
    """The visitor of the current request (set by the gate)."""
    return flask.g.get("visitor") or Visitor(None)


def role() -> Role:
    return visitor().role


def has_request() -> bool:
    return flask.has_request_context()


def record(method: str, path: str, status: int | None = None, query: str = "") -> None:
    """Have this request written to the audit log as ``method path?query`` (status: the response's, unless given)."""
    flask.g.audit = (method, path, query, status)


def _write(audit: AuditLog, event: tuple, response_status: int) -> None:
    method, path, query, status = event
    key = visitor().key
    client = flask.request.remote_addr
    audit.write_line(audit_line(key_id=key.id if key else None, key_name=key.name if key else None,
                                role=key.role if key else None, method=method, path=path,
                                query=redact_query(query), status=status or response_status,
                                latency_ms=(time.perf_counter() - flask.g.get("started", time.perf_counter())) * 1000,
                                client=client))


def _local(target: str | None) -> str:
    """Only a path on this server (never ``//host`` or ``https://...``): no open redirect after login."""
    if (not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc
            or "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)):
        return "/"  # control characters (CR/LF: a header injection, a 500) and backslashes (/\\host) too
    return target


def _login_url(reason: str | None, next_url: str | None = None) -> str:
    parts = [f"reason={reason}"] if reason else []
    if next_url and next_url not in ("/", "/login"):
        parts.append(f"next={quote(_local(next_url), safe='')}")
    return "/login" + ("?" + "&".join(parts) if parts else "")


def _login_page(reason: str | None, status: int = 200) -> tuple[str, int, dict]:
    message = REASONS.get(reason or "", "")
    next_url = html.escape(_local(flask.request.args.get("next")), quote=True)
    notice = f'<p class="notice" role="alert">{html.escape(message)}</p>' if message else ""
    body = LOGIN_PAGE.format(notice=notice, next=next_url)
    return body, status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Unified-M</title>
<style>
body {{ margin: 0; font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, sans-serif; background: #f8f9fa;
       color: #212529; display: flex; min-height: 100vh; align-items: center; justify-content: center; }}
main {{ background: #fff; border: 1px solid #dee2e6; border-radius: 8px; padding: 32px; width: min(420px, 90vw);
       box-shadow: 0 1px 3px rgba(0,0,0,.06); }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} p {{ color: #495057; font-size: 14px; line-height: 1.5; }}
label {{ display: block; font-weight: 600; font-size: 14px; margin: 16px 0 6px; }}
input {{ width: 100%; box-sizing: border-box; padding: 10px 12px; font-size: 14px; border: 1px solid #ced4da;
        border-radius: 6px; font-family: ui-monospace, monospace; }}
button {{ margin-top: 16px; width: 100%; padding: 10px; font-size: 15px; font-weight: 600; color: #fff;
         background: #228be6; border: 0; border-radius: 6px; cursor: pointer; }}
.notice {{ background: #fff4e6; border-left: 4px solid #fd7e14; padding: 8px 12px; color: #7c3b00; }}
code {{ background: #f1f3f5; padding: 1px 4px; border-radius: 4px; }}
</style></head>
<body><main>
<h1>Unified-M</h1><p>The Monday dashboard: what each channel returned and how to split next week's budget.</p>
{notice}
<form method="post" action="/login">
<label for="key">API key</label>
<input id="key" name="key" type="password" autocomplete="off" placeholder="umm_..." required autofocus>
<input type="hidden" name="next" value="{next}">
<button type="submit">Sign in</button>
</form>
<p>Ask an admin for a key (<code>umm keys create --role viewer --name you</code>). Viewers see every page;
the budget planner's scenarios need an analyst key.</p>
</main></body></html>"""
