"""What a browser finds on the plain port: `http://pi:8080/` is a local page saying what this server is
and linking to the admin page on the TLS port; `http://pi:8080/admin` redirects there. Real HTTP over
loopback against the real server."""
import http.client
import re
import ssl

import pytest

TIMEOUT = 5.0


def get(server, path, host=None, secure=False):
    if secure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        conn = http.client.HTTPSConnection(server.host, server.app_port, timeout=TIMEOUT, context=context)
    else:
        conn = http.client.HTTPConnection(server.host, server.hw_port, timeout=TIMEOUT)
    try:
        conn.request("GET", path, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, response.getheader("Location"), response.read().decode("utf-8")
    finally:
        conn.close()


def test_the_root_page_says_what_this_is_and_links_to_the_admin_page(server):
    status, location, page = get(server, "/", host=f"raspberrypi.local:{server.hw_port}")
    assert (status, location) == (200, None)
    assert "blynklite" in page and "Blynk server" in page
    admin = re.search(r'<a id="admin" href="([^"]+)"', page)
    assert admin and admin.group(1) == f"https://raspberrypi.local:{server.app_port}/admin", page
    assert f"port {server.hw_port} (plain) or {server.app_port} (TLS)" in page
    assert "{{" not in page        # every placeholder filled


def test_the_admin_link_it_gives_opens_the_admin_sign_in_page(server):
    _, _, page = get(server, "/", host=f"{server.host}:{server.hw_port}")
    link = re.search(r'<a id="admin" href="https://([^:/]+):(\d+)(/[^"]*)"', page)
    assert link and int(link.group(2)) == server.app_port
    status, location, body = get(server, link.group(3), secure=True)
    assert status == 200 and "Sign in" in body, (status, location, body[:200])


@pytest.mark.parametrize("path", ["/admin", "/admin/", "/admin/users"])
def test_admin_on_the_plain_port_redirects_to_the_tls_port(server, path):
    status, location, _ = get(server, path, host="192.168.1.10:8080")
    assert (status, location) == (302, f"https://192.168.1.10:{server.app_port}/admin")


def test_a_strange_host_header_is_not_echoed(server):
    status, location, page = get(server, "/admin", host='evil"><script>')
    assert status == 302 and location == f"https://127.0.0.1:{server.app_port}/admin"   # server.host
    _, _, page = get(server, "/", host='evil"><script>')
    assert "<script>" not in page


def test_the_tls_port_keeps_sending_the_root_to_the_admin_page(server):
    status, location, _ = get(server, "/", secure=True)
    assert (status, location) == (301, "/admin")


def test_an_admin_root_of_slash_does_not_swallow_the_plain_port(make_server):
    server = make_server(admin_rootPath="/")
    status, location, _ = get(server, "/no/such/thing")
    assert (status, location) == (404, None)
    status, location, page = get(server, "/")
    assert status == 200 and "blynklite" in page
