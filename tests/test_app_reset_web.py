"""Password reset from the web (spec/behaviours.md §5.2) against the real server and a real SMTP server:
POST /resetPassword, the mail's /landing link, POST /updatePassword, GET /restore; and the landing
page's own SHA-256, run in node, gives the app's password hash."""
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from blynklite.client import AppClient, password_hash
from devices import PASSWORD, WAIT, new_account

pytest.importorskip("aiosmtpd")

from test_app_reset import mail_with_subject  # noqa: E402
from test_notifications import mail_properties, smtp_server, start_server  # noqa: E402

OK, NOT_AUTHENTICATED = 200, 5
LANDING = re.compile(r"http://127\.0\.0\.1/landing\?token=([A-Za-z0-9_-]{64})")


@pytest.fixture
def mailing(tmp_path):
    with smtp_server(tmp_path) as smtp:
        server = start_server(tmp_path, {"mail.properties": mail_properties(smtp)},
                              **{"restore.host": "restore.example.net"})
        try:
            yield server, smtp
        finally:
            server.stop()


def http(server, method, path, form=None):
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(f"http://{server.host}:{server.hw_port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_web_reset_from_mail_to_new_password(mailing):
    server, smtp = mailing
    email = new_account(server)
    assert http(server, "POST", "/resetPassword", {"email": email, "appName": "Blynk"}) == (200, "Email was sent.")
    _, recipients, message = mail_with_subject(smtp, "Password reset request for the Blynk app.")
    assert recipients == [email]
    token = LANDING.search(message.get_content()).group(1)
    status, page = http(server, "GET", f"/landing?token={token}")
    assert status == 200 and email in page and token in page
    new_hash = password_hash("from-the-web", email)
    assert http(server, "POST", "/updatePassword", {"token": token, "password": new_hash}) == \
        (200, "Password was successfully reset.")
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == NOT_AUTHENTICATED
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, "from-the-web") == OK
    assert http(server, "POST", "/updatePassword", {"token": token, "password": new_hash}) == \
        (400, "Invalid token. Please repeat all steps.")
    assert http(server, "GET", f"/landing?token={token}")[0] == 400


def test_web_reset_refusals(mailing):
    server, smtp = mailing
    assert http(server, "POST", "/resetPassword", {"email": "not-an-address"}) == \
        (400, "not-an-address email has not valid format.")
    assert http(server, "POST", "/resetPassword", {"email": "nobody@example.com"}) == \
        (400, "Sorry, this account does not exist.")
    assert http(server, "GET", "/landing?token=short") == (400, "Invalid request parameters.")
    assert http(server, "GET", "/landing?token=" + "A" * 64) == \
        (400, "Your token was not found or it is outdated. Please try again.")
    assert smtp.mailbox.next(timeout=0.3) is None


def test_restore_page_links_to_restore_host(mailing):
    server, _ = mailing
    status, page = http(server, "GET", "/restore?token=" + "B" * 64 + "&email=a@b.cc")
    assert status == 200 and "http://restore.example.net/restore?token=" + "B" * 64 + "&amp;email=a@b.cc" in page
    assert http(server, "GET", "/restore?token=" + "B" * 32) == (400, "Invalid request parameters.")


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the landing page's script")
def test_the_landing_pages_hash_is_the_apps_hash(mailing):
    server, smtp = mailing
    email = new_account(server)
    http(server, "POST", "/resetPassword", {"email": email})
    token = LANDING.search(mail_with_subject(smtp, "Password reset request for the Blynk app.")[2].get_content()).group(1)
    page = http(server, "GET", f"/landing?token={token}")[1]
    script = page[page.index("function utf8"):page.index('document.getElementById("f")')]
    program = script + ('global.btoa = s => Buffer.from(s, "binary").toString("base64");\n'
                        f'console.log(passwordHash("p\u00e4ss " + "x".repeat(90), "{email.upper()}"));\n')
    result = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=WAIT)
    assert result.stdout.strip() == password_hash("p\u00e4ss " + "x" * 90, email), result.stderr
