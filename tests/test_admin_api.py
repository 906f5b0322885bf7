"""The admin area's HTTP side against the real server (spec/http-api.md §4): address filter, sign-in
with a session cookie, lockout, users, statistics, settings, password change."""
import http.client
import json
import ssl
import urllib.parse

import pytest

from blynklite.client import password_hash
from blynklite.codec.commands import Status
from devices import WAIT, device, new_account, open_app

ADMIN_EMAIL, ADMIN_PASS = "admin@blynk.cc", "admin-test-pass"


class Browser:
    """Keeps the session cookie like a browser would, over one TLS connection per request."""

    def __init__(self, server):
        self.server = server
        self.cookie = None

    def request(self, method, path, body=None, headers=None, form=None):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(self.server.host, self.server.app_port, timeout=WAIT, context=context)
        headers = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None and not isinstance(body, str):
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        if self.cookie:
            headers["Cookie"] = self.cookie
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        set_cookie = response.getheader("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
            self.set_cookie = set_cookie
        return response, data

    def sign_in(self, password=ADMIN_PASS, email=ADMIN_EMAIL):
        return self.request("POST", "/admin/login", form={"email": email,
                                                            "password": password_hash(password, email)})

    def json(self, path):
        response, data = self.request("GET", path)
        assert response.status == 200, (response.status, data)
        return json.loads(data)


@pytest.fixture
def browser(server):
    return Browser(server)


def test_sign_in_sets_a_strict_session_cookie(browser):
    response, _ = browser.sign_in()
    assert (response.status, response.getheader("Location")) == (301, "/admin")
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Max-Age=2592000"):
        assert attribute in browser.set_cookie
    users = browser.json("/admin/users")
    assert [u["email"] for u in users] == [ADMIN_EMAIL]


def test_admin_endpoints_are_hidden_without_a_cookie(browser):
    assert browser.request("GET", "/admin/users")[0].status == 404
    browser.cookie = "session=forged"
    assert browser.request("GET", "/admin/users")[0].status == 404


def test_wrong_password_redirects_with_failed_and_five_failures_lock_out(browser):
    for _ in range(5):
        response, _ = browser.sign_in("wrong")
        assert response.getheader("Location") == "/admin?failed"
    response, _ = browser.sign_in()      # right password, but locked out now
    assert response.getheader("Location") == "/admin?locked"
    assert browser.cookie is None


def test_admin_replies_have_no_wildcard_cors(browser):
    browser.sign_in()
    response, _ = browser.request("GET", "/admin/users")
    assert response.getheader("Access-Control-Allow-Origin") is None


def test_admin_area_is_not_on_the_plain_port(server):
    conn = http.client.HTTPConnection(server.host, server.hw_port, timeout=WAIT)
    conn.request("GET", "/admin/users")
    response = conn.getresponse()       # only a redirect to the TLS port (tests/test_pi_web.py)
    assert (response.status, response.getheader("Location")) == (302, f"https://127.0.0.1:{server.app_port}/admin")
    assert response.read() == b""
    conn.close()


def test_addresses_outside_the_allowed_list_are_dropped_without_an_answer(make_server):
    server = make_server(allowed_administrator_ips="10.1.2.0/24")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, ssl.SSLError)):
        Browser(server).sign_in()


def test_connected_devices_and_statistics(server, browser):
    email = new_account(server)
    app = open_app(server, email)
    _, _, token = app.new_device("Boiler")
    with device(server) as hw:
        assert hw.login(token) == Status.OK
        browser.sign_in()
        rows = browser.json("/admin/stats/connections")
        kinds = sorted((r["type"], r["email"]) for r in rows)
        assert kinds == [("app", email), ("device", email)]
        [stat] = browser.json("/admin/stats/realtime")
        assert stat["totalOnlineHards"] == 1 and stat["totalOnlineApps"] == 1 and stat["connected"] == 1
        assert stat["commands"]["HARDWARE_LOGIN"] >= 1
    app.close()


def test_edit_and_delete_a_user(server, browser):
    email = new_account(server)
    browser.sign_in()
    user_id = urllib.parse.quote(f"{email}-Blynk")
    user = browser.json(f"/admin/users/{user_id}")
    user["energy"], user["pass"] = 12345, "new-secret"
    response, data = browser.request("PUT", f"/admin/users/{user_id}", user)
    assert response.status == 200 and json.loads(data)["energy"] == 12345
    with open_app_with(server, email, "new-secret"):
        pass
    user = browser.json(f"/admin/users/{user_id}")
    user["email"] = "renamed@example.com"
    response, data = browser.request("PUT", f"/admin/users/{user_id}", user)
    assert (response.status, data) == (400, b"You need also change password when changing email.")
    user["pass"] = "renamed-secret"
    response, _ = browser.request("PUT", f"/admin/users/{user_id}", user)
    assert response.status == 200
    with open_app_with(server, "renamed@example.com", "renamed-secret"):
        pass
    user_id = urllib.parse.quote("renamed@example.com-Blynk")
    email = "renamed@example.com"
    assert browser.request("DELETE", f"/admin/users/{user_id}")[0].status == 200
    assert browser.request("GET", f"/admin/users/{user_id}")[0].status == 404
    assert (server.data_dir / "deleted" / f"{email}.Blynk.user").is_file()


class open_app_with:
    def __init__(self, server, email, password):
        from blynklite.client import AppClient
        self.app = AppClient(server.host, server.app_port, timeout=WAIT)
        assert self.app.login(email, password) == Status.OK

    def __enter__(self):
        return self.app

    def __exit__(self, *exc):
        self.app.close()


def test_change_a_setting_and_see_it_saved(server, browser):
    browser.sign_in()
    config = browser.json("/admin/config/server.properties")
    assert "notifications.frequency.user.quota.limit=5" in config["body"]
    body = config["body"].replace("notifications.frequency.user.quota.limit=5",
                                  "notifications.frequency.user.quota.limit=7")
    response, data = browser.request("PUT", "/admin/config/server.properties", {"name": "server.properties",
                                                                                  "body": body})
    assert response.status == 200 and json.loads(data)["changed"] == ["notifications.frequency.user.quota.limit"]
    assert "notifications.frequency.user.quota.limit=7" in browser.json("/admin/config/server.properties")["body"]
    assert "notifications.frequency.user.quota.limit=7" in (server.workdir / "server.properties").read_text()


def test_a_bad_setting_is_refused_with_the_key_named(browser):
    browser.sign_in()
    response, data = browser.request("PUT", "/admin/config/server.properties",
                                     {"name": "server.properties", "body": "http.port=eighty\n"})
    assert response.status == 400 and b"http.port" in data


def test_change_the_admin_password(browser):
    browser.sign_in()
    response, data = browser.request("POST", "/admin/changePassword", {"current": "wrong", "new": "x" * 10})
    assert (response.status, data) == (400, b"The current password is wrong.")
    response, _ = browser.request("POST", "/admin/changePassword", {"current": ADMIN_PASS, "new": "brand-new-pass"})
    assert response.status == 200
    browser.request("POST", "/admin/logout")
    assert browser.request("GET", "/admin/users")[0].status == 404
    assert browser.sign_in("brand-new-pass")[0].getheader("Location") == "/admin"


def test_admin_pages_forbid_foreign_scripts_and_framing(browser):
    response, page = browser.request("GET", "/admin")
    assert response.status == 200 and b'id="login"' in page
    assert response.getheader("Content-Security-Policy") == "default-src 'self'; frame-ancestors 'none'"
    assert response.getheader("Cache-Control") == "no-store"
    browser.sign_in()
    response, page = browser.request("GET", "/admin")
    assert b'id="sign-out"' in page


def test_settings_round_trip_unchanged_even_with_backslashes(make_server):
    server = make_server(**{"product.name": "Blynk\\\\Home"})   # the file says Blynk\\\\Home, the value is Blynk\\Home
    browser = Browser(server)
    browser.sign_in()
    body = browser.json("/admin/config/server.properties")["body"]
    assert "product.name=Blynk\\\\Home\n" in body
    response, data = browser.request("PUT", "/admin/config/server.properties",
                                     {"name": "server.properties", "body": body})
    assert response.status == 200 and json.loads(data)["changed"] == []
