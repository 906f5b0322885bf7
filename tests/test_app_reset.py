"""RESET_PASSWORD from the app before login (spec/behaviours.md §5.1), with the mails reaching a real
SMTP server: start, verify, reset, tokens that work once, `restore.host` in the link."""
import re

import pytest

from blynklite.client import AppClient, password_hash
from devices import PASSWORD, WAIT, RawClient, new_account

pytest.importorskip("aiosmtpd")

from test_notifications import mail_properties, smtp_server, start_server  # noqa: E402

OK, ILLEGAL, NOT_AUTHENTICATED, NOT_ALLOWED = 200, 2, 5, 6
RESET_PASSWORD = 81
RESTORE_HOST = "restore.example.net"
LINK = re.compile(r"http://restore\.example\.net/restore\?token=([A-Za-z0-9_-]{32})&amp;email=|"
                  r"http://restore\.example\.net/restore\?token=([A-Za-z0-9_-]{32})&email=")


@pytest.fixture
def mailing(tmp_path):
    with smtp_server(tmp_path) as smtp:
        server = start_server(tmp_path, {"mail.properties": mail_properties(smtp)}, **{"restore.host": RESTORE_HOST})
        try:
            yield server, smtp
        finally:
            server.stop()


def mail_with_subject(smtp, subject):
    """The next mail with `subject` (the welcome mail of a new account comes first)."""
    while True:
        got = smtp.mailbox.next()
        assert got is not None, f"no mail {subject!r}"
        if got[2]["Subject"] == subject:
            return got


def reset_client(server):
    return RawClient(server.host, server.app_port, tls=True, app_framing=True)


def ask(client, msg_id, *fields):
    client.send(RESET_PASSWORD, "\0".join(fields), msg_id=msg_id)
    return client.receive()


def reset_mail(server, smtp, email):
    """Start a reset for `email`: (the mail, the token its link carries)."""
    with reset_client(server) as client:
        assert ask(client, 1, "start", email, "Blynk") == (0, 1, OK)
    message = mail_with_subject(smtp, "Password restoration for your Blynk account.")[2]
    match = LINK.search(message.get_body(("html", "plain")).get_content())
    assert match
    return message, match.group(1) or match.group(2)


def test_the_reset_mail_its_token_and_the_new_password(mailing):
    server, smtp = mailing
    email = new_account(server)
    with reset_client(server) as client:
        assert ask(client, 1, "start", email, "Blynk") == (0, 1, OK)
        sender, recipients, message = mail_with_subject(smtp, "Password restoration for your Blynk account.")
        assert recipients == [email]
        match = LINK.search(message.get_body(("html", "plain")).get_content())
        assert match
        token = match.group(1) or match.group(2)
        assert ask(client, 2, "start", email, "Blynk") == (0, 2, NOT_ALLOWED)    # one pending reset
        assert ask(client, 3, "verify", "123") == (0, 3, NOT_ALLOWED)
        assert ask(client, 4, "verify", token) == (0, 4, OK)
        new_hash = password_hash("new-secret", email)
        assert ask(client, 5, "reset", token, new_hash) == (0, 5, OK)
        assert ask(client, 6, "reset", token, new_hash) == (0, 6, NOT_ALLOWED)   # used once
        assert ask(client, 7, "verify", token) == (0, 7, NOT_ALLOWED)
    mail_with_subject(smtp, "Your new password on Blynk")
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, PASSWORD) == NOT_AUTHENTICATED
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, "new-secret") == OK


def test_unknown_or_malformed_accounts_get_the_same_answer_and_no_mail(mailing):
    server, smtp = mailing
    with reset_client(server) as client:
        assert ask(client, 1, "start", "nobody-here@example.com", "Blynk") == (0, 1, ILLEGAL)
        assert ask(client, 2, "start", "not an address", "Blynk") == (0, 2, ILLEGAL)
        assert ask(client, 3, "start", "x@example.com") == (0, 3, ILLEGAL)       # missing app name
        assert ask(client, 4, "reset", "A" * 32) == (0, 4, ILLEGAL)              # missing hash
        client.send(RESET_PASSWORD, "bogus\0x", msg_id=5)                        # unknown action: no reply
        assert ask(client, 6, "verify", "123") == (0, 6, NOT_ALLOWED)            # (PING would close)
    assert smtp.mailbox.next(timeout=0.5) is None
    assert "nobody-here@example.com" not in server.log_text()


def test_a_reset_without_mail_configured_is_a_server_error(server):
    email = new_account(server)
    with reset_client(server) as client:
        assert ask(client, 1, "start", email, "Blynk") == (0, 1, 19)


def test_a_new_account_of_the_blynk_app_gets_the_welcome_mail(mailing):
    server, smtp = mailing
    smtp.mailbox.skipped_subjects.clear()
    email = new_account(server)
    _, recipients, message = smtp.mailbox.next()
    assert recipients == [email] and message["Subject"] == "Get started with Blynk"
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.register("other-app@example.com", PASSWORD, app_name="MyExport") == OK
    assert smtp.mailbox.next(timeout=0.5) is None            # other app names get none (upstream)


def test_a_pending_reset_token_survives_a_restart(mailing):
    server, smtp = mailing
    email = new_account(server)
    message, token = reset_mail(server, smtp, email)
    server.stop()
    saved = server.data_dir / "data" / "tokens_pool_temp.bin"
    assert saved.exists()
    server.start()
    assert not saved.exists()                                   # read and deleted at start
    with reset_client(server) as client:
        assert ask(client, 2, "verify", token) == (0, 2, OK)
        assert ask(client, 3, "reset", token, password_hash("after-restart", email)) == (0, 3, OK)
    with AppClient(server.host, server.app_port, timeout=WAIT) as app:
        assert app.login(email, "after-restart") == OK


def test_the_reset_mail_carries_the_qr_code_the_app_scans(mailing):
    """The attachment is the QR code of `blynk://restore?...` (the encoder itself is checked against
    zxing-cpp in test_qrcode.py; it is deterministic, so equal bytes mean the same code)."""
    from blynklite.qrcode import qr_png
    server, smtp = mailing
    email = new_account(server)
    message, token = reset_mail(server, smtp, email)
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "resetPassQr.png"
    assert attachment.get_content() == qr_png(f"blynk://restore?token={token}&email={email.replace('@', '%40')}")
