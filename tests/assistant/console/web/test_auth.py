"""Login, sessions, CSRF, rate limiting and roles of the staff console, through real HTTP."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from yarl import URL

from assistant.console.web.ratelimit import LimiterUnavailable
from assistant.console.web.sessions import utcnow
from tests.assistant.console.web.conftest import PASSWORD, Env, csrf_token


def session_rows(env: Env) -> list[Any]:
    with env.engine.connect() as conn:
        return list(conn.execute(text("SELECT token_hash, account_id, expires_at, last_seen_at FROM staff_sessions")))


def audit_actions(env: Env) -> list[tuple[str | None, str, str | None]]:
    with env.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT actor, action, target FROM audit_log ORDER BY id"))]


async def test_pages_redirect_to_login_and_apis_answer_401_when_logged_out(env: Env) -> None:
    status, _ = await env.page("/staff/")
    assert status == 302
    response = await env.client.get(
        "/staff/conversations/web-x?a=1", headers={"Accept": "text/html"}, allow_redirects=False
    )
    location = URL(response.headers["Location"])
    assert location.path == "/staff/login" and location.query["next"] == "/staff/conversations/web-x?a=1"
    for path, accept in [
        ("/staff/conversations/web-x/live", "text/event-stream"),
        ("/staff/handoffs/live", "text/event-stream"),
        ("/staff/corrections.yml", "*/*"),
        ("/staff/conversations/web-x/photos/" + "a" * 32, "image/*"),
        ("/staff/no-such-page", "*/*"),  # unknown paths do not reveal themselves as 404 before login
    ]:
        response = await env.client.get(path, headers={"Accept": accept}, allow_redirects=False)
        assert response.status == 401, path
        assert "log in" in (await response.text()).lower()
    for path in ["/staff/conversations/web-x/takeover", "/staff/customers/123/erase", "/staff/logout"]:
        response = await env.client.post(path, data={"csrf_token": "x"}, allow_redirects=False)
        assert response.status == 401, path


async def test_login_page_is_accessible_and_locked_down(env: Env) -> None:
    response = await env.client.get("/staff/login")
    body = await response.text()
    assert response.status == 200
    for marker in ['id="login-form"', 'id="login-username" name="username"', 'id="login-password" name="password"',
                   '<label for="login-username">', '<label for="login-password">', 'type="submit"', "<main",
                   'class="skip-link"']:  # fmt: skip
        assert marker in body
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in body and " style=" not in body  # nothing inline: the CSP would block it
    cookie = response.cookies["shopassist_staff_login"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/staff"
    css = await env.client.get(_asset(body, "console.css"))
    assert css.status == 200 and "text/css" in css.headers["Content-Type"]


def _asset(html: str, name: str) -> str:
    start = html.index("/staff/static/" + name)
    return html[start : html.index('"', start)]


async def test_login_creates_a_hashed_server_side_session(env: Env) -> None:
    page = await env.client.get("/staff/login")
    token = csrf_token(await page.text())
    response = await env.client.post(
        "/staff/login",
        data={"csrf_token": token, "username": "alex", "password": PASSWORD, "next": "/staff/handoffs"},
        headers={"Origin": env.origin},
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/staff/handoffs"
    cookie = response.cookies["shopassist_staff"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/staff"
    assert not cookie["secure"]  # COOKIE_SECURE off by default (plain HTTP on 127.0.0.1)
    rows = session_rows(env)
    assert len(rows) == 1
    assert rows[0].token_hash == hashlib.sha256(cookie.value.encode()).hexdigest() != cookie.value
    assert rows[0].account_id == env.agent.id
    assert ("alex", "login", None) in audit_actions(env)
    status, body = await env.page("/staff/")
    assert status == 200 and "Alex" in body


async def test_secure_cookie_flag_follows_settings(secure_env_factory: Any) -> None:
    async with secure_env_factory(cookie_secure=True) as env:
        page = await env.client.get("/staff/login")
        login_cookie = page.cookies["shopassist_staff_login"]
        assert login_cookie["secure"]
        response = await env.client.post(  # the test client speaks plain HTTP: it holds Secure cookies back
            "/staff/login",
            data={"csrf_token": csrf_token(await page.text()), "username": "alex", "password": PASSWORD},
            headers={"Origin": env.origin, "Cookie": f"shopassist_staff_login={login_cookie.value}"},
            allow_redirects=False,
        )
        assert response.status == 303 and response.cookies["shopassist_staff"]["secure"]


async def test_wrong_password_is_refused_without_a_session(env: Env) -> None:
    page = await env.client.get("/staff/login")
    response = await env.client.post(
        "/staff/login",
        data={"csrf_token": csrf_token(await page.text()), "username": "alex", "password": "wrong password!!"},
        headers={"Origin": env.origin},
        allow_redirects=False,
    )
    assert response.status == 401
    assert "Wrong username or password." in await response.text()
    assert "shopassist_staff" not in response.cookies
    assert session_rows(env) == []


async def test_login_is_rate_limited_per_username(env: Env) -> None:
    async def attempt(password: str) -> Any:
        page = await env.client.get("/staff/login")
        return await env.client.post(
            "/staff/login",
            data={"csrf_token": csrf_token(await page.text()), "username": "alex", "password": password},
            headers={"Origin": env.origin},
            allow_redirects=False,
        )

    for _ in range(5):
        assert (await attempt("not the password")).status == 401
    blocked = await attempt(PASSWORD)  # even the right password waits: the limit is on attempts
    assert blocked.status == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed logins" in await blocked.text()
    assert session_rows(env) == []


async def test_login_form_needs_its_csrf_token_and_same_origin(env: Env) -> None:
    page = await env.client.get("/staff/login")
    token = csrf_token(await page.text())
    form = {"username": "alex", "password": PASSWORD}
    cases = [
        ({**form}, {"Origin": env.origin}),  # no token
        ({**form, "csrf_token": "forged"}, {"Origin": env.origin}),  # token not the cookie's
        ({**form, "csrf_token": token}, {"Origin": "http://evil.example"}),  # cross-site
        ({**form, "csrf_token": token}, {}),  # neither Origin nor Referer
    ]
    for data, headers in cases:
        response = await env.client.post("/staff/login", data=data, headers=headers, allow_redirects=False)
        assert response.status == 403, (data, headers)
    assert session_rows(env) == []
    ok = await env.client.post(
        "/staff/login",
        data={**form, "csrf_token": token},
        headers={"Referer": env.origin + "/staff/login"},  # Referer stands in for a missing Origin
        allow_redirects=False,
    )
    assert ok.status == 303


async def test_login_never_redirects_off_site(env: Env) -> None:
    for evil in ["//evil.example/staff/", "https://evil.example/", "/\\evil.example", "/other/"]:
        env.client.session.cookie_jar.clear()
        page = await env.client.get("/staff/login")
        response = await env.client.post(
            "/staff/login",
            data={"csrf_token": csrf_token(await page.text()), "username": "alex", "password": PASSWORD, "next": evil},
            headers={"Origin": env.origin},
            allow_redirects=False,
        )
        assert response.status == 303 and response.headers["Location"] == "/staff/", evil


async def test_every_post_checks_csrf_token_and_origin(env: Env) -> None:
    token = await env.login("alex")
    path = "/staff/conversations/web-abc/notes"
    assert (await env.post(path, {"body": "hello"}, None)).status == 403
    assert (await env.post(path, {"body": "hello"}, "wrong-token")).status == 403
    assert (await env.post(path, {"body": "hello"}, token, headers={"Origin": "http://evil.example"})).status == 403
    response = await env.client.post(path, data={"body": "hello", "csrf_token": token}, allow_redirects=False)
    assert response.status == 403  # no Origin, no Referer
    assert "security token" in (await (await env.post(path, {"body": "x"}, "bad")).text())
    ok = await env.post(path, {"body": "hello"}, token)
    assert ok.status == 303


async def test_session_expires_after_idle_time_and_slides_while_used(env: Env) -> None:
    await env.login("alex")
    with env.engine.begin() as conn:  # a minute and more since the last request: the next one slides the expiry
        conn.execute(text("UPDATE staff_sessions SET last_seen_at = :t"), {"t": utcnow() - timedelta(minutes=5)})
    before = session_rows(env)[0].expires_at
    assert (await env.page("/staff/"))[0] == 200
    assert session_rows(env)[0].expires_at > before
    with env.engine.begin() as conn:
        conn.execute(text("UPDATE staff_sessions SET expires_at = :t"), {"t": utcnow() - timedelta(seconds=1)})
    status, _ = await env.page("/staff/")
    assert status == 302
    assert session_rows(env) == []  # the expired row is gone


async def test_logout_deletes_the_session(env: Env) -> None:
    token = await env.login("alex")
    cookie = env.client.session.cookie_jar.filter_cookies(env.client.make_url("/staff/"))["shopassist_staff"].value
    response = await env.post("/staff/logout", {}, token)
    assert response.status == 303 and response.headers["Location"] == "/staff/login"
    assert session_rows(env) == []
    assert ("alex", "logout", None) in audit_actions(env)
    replay = await env.client.get(
        "/staff/", headers={"Accept": "text/html", "Cookie": f"shopassist_staff={cookie}"}, allow_redirects=False
    )
    assert replay.status == 302  # the old cookie is worthless


async def test_disabled_account_is_logged_out(env: Env) -> None:
    await env.login("alex")
    env.accounts.disable("alex")
    assert (await env.page("/staff/"))[0] == 302


async def test_agents_get_403_on_admin_pages(env: Env) -> None:
    token = await env.login("alex")
    status, body = await env.page("/staff/audit")
    assert status == 403 and "admin" in body
    assert (await env.post("/staff/customers/12345/erase", {"confirm": "yes"}, token)).status == 403
    assert (await env.post("/staff/conversations/web-abc/erase", {"confirm": "yes"}, token)).status == 403
    assert "Audit log" not in (await env.page("/staff/"))[1]  # no link to what they cannot open


async def test_admin_reads_the_audit_log(env: Env) -> None:
    await env.login("root")
    status, body = await env.page("/staff/audit")
    assert status == 200
    assert "<code>login</code>" in body and "root" in body


async def test_oversized_and_malformed_posts_get_clear_4xx(env: Env) -> None:
    token = await env.login("alex")
    big = await env.post("/staff/conversations/web-abc/notes", {"body": "x" * 5000}, token)
    assert big.status == 413 and "at most 4000 characters" in await big.text()
    huge = await env.client.post(
        "/staff/conversations/web-abc/notes",
        data={"body": "x" * 3_000_000, "csrf_token": token},
        headers={"Origin": env.origin, "Accept": "text/html"},
    )
    assert huge.status == 413
    missing = await env.post("/staff/conversations/web-abc/notes", {}, token)
    assert missing.status == 400 and "note" in await missing.text()
    as_json = await env.client.post(
        "/staff/conversations/web-abc/notes",
        json={"body": "x", "csrf_token": token},
        headers={"Origin": env.origin},
    )
    assert as_json.status == 403  # not a form: no token field can be read, so it is refused before anything runs
    bad_filter = await env.page("/staff/?from=yesterday")
    assert bad_filter[0] == 400 and "expected a date like 2024-05-31" in bad_filter[1]
    bad_page = await env.page("/staff/?page=-3")
    assert bad_page[0] == 400


async def test_login_is_refused_with_503_while_the_shared_login_counts_cannot_be_read(
    env: Env, monkeypatch: Any
) -> None:
    async def unreachable(address: str, username: str) -> int | None:
        raise LimiterUnavailable("login counts at redis://127.0.0.1:6379/0: Connection refused")

    monkeypatch.setattr(env.limiter, "retry_after", unreachable)
    page = await env.client.get("/staff/login")
    response = await env.client.post(
        "/staff/login",
        data={"csrf_token": csrf_token(await page.text()), "username": "alex", "password": PASSWORD},
        headers={"Origin": env.origin},
        allow_redirects=False,
    )
    assert response.status == 503 and "not possible right now" in await response.text()
    assert session_rows(env) == []
