"""The client's app-side subcommands as a person without the app runs them (`python3 -m blynklite.client`):
share (token and terminal QR), tags, provision, clone-code / clone, reset-password, against the real
server, checked from the other side (a share login, a device login, a mail, a login)."""
import re

import pytest

from blynklite.client import AppClient
from blynklite.qrcode import qr_matrix
from devices import RawClient, device
from test_cli import TOKEN_RE, run

EMAIL, PASSWORD = "cli@blynk.cc", "secret"
OK, NOT_ALLOWED = 200, 6


@pytest.fixture
def account(server):
    result = run(server, "new-device", "Kitchen", email=EMAIL, password=PASSWORD)
    assert result.returncode == 0, result.stderr
    return server, result.stdout.strip()


def cli(server, *args, ok=True):
    result = run(server, *args, email=EMAIL, password=PASSWORD)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def test_share_prints_a_token_that_logs_in_and_its_qr_code(account):
    server, _ = account
    result = cli(server, "share", "--dash", "1")
    token = result.stdout.strip()
    assert TOKEN_RE.fullmatch(token)
    qr_lines = [line for line in result.stderr.splitlines() if set(line) <= set("\u2588\u2580\u2584 ")]
    size = len(qr_matrix(token)) + 4
    assert len(qr_lines) == (size + 1) // 2 and all(len(line) == size for line in qr_lines)
    with RawClient(server.host, server.app_port, tls=True, app_framing=True) as share:
        share.send(32, f"{EMAIL}\0{token}", msg_id=1)
        assert share.receive() == (0, 1, OK)
    assert cli(server, "share", "--dash", "1").stdout.strip() == token          # the same token again
    refreshed = cli(server, "share", "--dash", "1", "--refresh").stdout.strip()
    assert TOKEN_RE.fullmatch(refreshed) and refreshed != token
    assert "is off" in cli(server, "share", "--dash", "1", "--off").stdout
    with RawClient(server.host, server.app_port, tls=True, app_framing=True) as share:
        share.send(32, f"{EMAIL}\0{refreshed}", msg_id=1)
        assert share.receive() == (0, 1, NOT_ALLOWED)


def test_tags_from_the_command_line(account):
    server, _ = account
    assert cli(server, "tags").stdout == ""
    cli(server, "tag", "100000", "Lights", "0")
    cli(server, "tag", "100000", "Lamps", "0")                                  # updates the existing one
    assert cli(server, "tags").stdout.splitlines() == ["100000\tLamps\t0"]
    refused = cli(server, "tag", "5", "Bad", ok=False)
    assert refused.returncode == 2 and "ILLEGAL_COMMAND" in refused.stderr
    cli(server, "tag-delete", "100000")
    assert cli(server, "tags").stdout == ""


def test_provision_gives_a_token_whose_first_login_adds_the_device(account):
    server, _ = account
    token = cli(server, "provision", "Garage", "--id", "5").stdout.strip()
    assert TOKEN_RE.fullmatch(token)
    with device(server) as hw:
        assert hw.login(token) == OK
    assert any(line.startswith("1-5\t") for line in cli(server, "tokens").stdout.splitlines())


def test_clone_code_and_clone(account):
    server, first_token = account
    result = cli(server, "clone-code")
    code = result.stdout.strip()
    assert TOKEN_RE.fullmatch(code) and "\u2588" in result.stderr
    cloned = cli(server, "clone", code).stdout.splitlines()
    assert cloned[0].startswith("project 2 ")
    dash_device, token, name = cloned[1].split("\t")
    assert dash_device == "2-0" and TOKEN_RE.fullmatch(token) and token != first_token and name == "Kitchen"
    assert cli(server, "clone", "A" * 32, ok=False).returncode == 2


def test_reset_password_from_the_command_line(tmp_path):
    pytest.importorskip("aiosmtpd")
    from test_notifications import mail_properties, smtp_server, start_server
    with smtp_server(tmp_path) as smtp:
        server = start_server(tmp_path, {"mail.properties": mail_properties(smtp)})
        try:
            assert run(server, "new-device", "d", email=EMAIL, password=PASSWORD).returncode == 0
            started = run(server, "reset-password", email=EMAIL, password="")
            assert started.returncode == 0, started.stderr
            from test_app_reset import mail_with_subject
            message = mail_with_subject(smtp, "Password restoration for your Blynk account.")[2]
            token = re.search(r"token=([A-Za-z0-9_-]{32})", message.get_body(("html", "plain")).get_content()).group(1)
            done = run(server, "reset-password", "--token", token, "--new-password", "changed", email=EMAIL,
                       password="")
            assert done.returncode == 0 and "password changed" in done.stdout
            with AppClient(server.host, server.app_port, timeout=5) as app:
                assert app.login(EMAIL, "changed") == OK
            again = run(server, "reset-password", "--token", token, "--new-password", "x", email=EMAIL, password="")
            assert again.returncode == 2 and "NOT_ALLOWED" in again.stderr
        finally:
            server.stop()


def test_the_subcommands_are_in_the_help(server):
    text = run(server, "--help").stdout
    for name in ("share", "tags", "tag", "tag-delete", "provision", "clone-code", "clone", "reset-password"):
        assert re.search(rf"^\s+{re.escape(name)}\s", text, re.M), name
