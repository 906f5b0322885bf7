"""send_mail against a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS and implicit TLS,
with and without AUTH, and the failures a user meets, each with words that say what to fix."""
import time

from email.utils import parseaddr

import pytest

from blynklite.notify.mail import MailError, MailSettings, send_mail

from .peers import SilentServer, SmtpServer, free_port

# AUTH over plain text is what a LAN mail server often does; aiosmtpd warns about it, rightly.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SUBJECT = "Température: 21 °C ✓"
BODY = "Grüße aus dem Keller — alles gut.\nSecond line."


def settings(port, product="Blynk", **props):
    base = {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": str(port), "mail.smtp.auth": "false",
            "mail.smtp.starttls.enable": "false", "mail.smtp.username": "",
            "mail.smtp.connectiontimeout": "2000", "mail.smtp.timeout": "2000"}
    base.update({k.replace("_", "."): v for k, v in props.items()})
    return MailSettings.from_properties(base, product)


def received(server):
    got = server.mailbox.next()
    assert got is not None, "the SMTP server received nothing"
    return got


def assert_delivered(server, sender, to="owner@example.com", html=False):
    envelope_from, envelope_to, message = received(server)
    assert envelope_from == parseaddr(sender)[1] and envelope_to == [to]
    assert message["From"] == sender and message["To"] == to
    assert message["Subject"] == SUBJECT
    assert message.get_content_type() == ("text/html" if html else "text/plain")
    assert message.get_content().replace("\r\n", "\n").rstrip("\n") == BODY


# -- delivery ---------------------------------------------------------------------------------------
def test_plain_smtp_without_auth_delivers_utf8_subject_and_body():
    with SmtpServer("plain") as server:
        send_mail(settings(server.port, mail_from="alerts@example.com"), "owner@example.com", SUBJECT, BODY)
        assert_delivered(server, "alerts@example.com")


def test_html_mail_is_sent_as_text_html():
    with SmtpServer("plain") as server:
        send_mail(settings(server.port, mail_from="alerts@example.com"), "owner@example.com",
                  SUBJECT, BODY, html=True)
        assert_delivered(server, "alerts@example.com", html=True)


def test_plain_smtp_with_auth_logs_in_and_the_username_is_the_sender():
    with SmtpServer("plain", users={"me@example.com": "s3cret"}) as server:
        s = settings(server.port, mail_smtp_auth="true", mail_smtp_username="me@example.com",
                     mail_smtp_password="s3cret")
        send_mail(s, "owner@example.com", SUBJECT, BODY)
        assert_delivered(server, "me@example.com")


def test_starttls_with_auth_trusting_a_private_ca_file(ca, server_tls):
    with SmtpServer("starttls", tls=server_tls, users={"me@example.com": "s3cret"}) as server:
        s = settings(server.port, mail_smtp_auth="true", mail_smtp_username="me@example.com",
                     mail_smtp_password="s3cret", mail_smtp_starttls_enable="true",
                     mail_smtp_ssl_cafile=ca.cafile, mail_from="{PRODUCT_NAME} <robot@example.com>")
        send_mail(s, "owner@example.com", SUBJECT, BODY)
        assert_delivered(server, "Blynk <robot@example.com>")


def test_implicit_tls_with_auth(ca, server_tls):
    with SmtpServer("tls", tls=server_tls, users={"me@example.com": "s3cret"}) as server:
        s = settings(server.port, mail_smtp_auth="true", mail_smtp_username="me@example.com",
                     mail_smtp_password="s3cret", mail_smtp_ssl_enable="true", mail_smtp_ssl_cafile=ca.cafile)
        send_mail(s, "owner@example.com", SUBJECT, BODY)
        assert_delivered(server, "me@example.com")


def test_product_name_replaces_the_placeholder_in_mail_from():
    with SmtpServer("plain") as server:
        send_mail(settings(server.port, product="Acme", mail_from="{PRODUCT_NAME} <no-reply@acme.test>"),
                  "owner@example.com", SUBJECT, BODY)
        assert_delivered(server, "Acme <no-reply@acme.test>")


# -- TLS policy -------------------------------------------------------------------------------------
def test_certificate_from_an_unknown_ca_is_refused_with_the_keys_that_fix_it(server_tls):
    with SmtpServer("tls", tls=server_tls) as server:
        with pytest.raises(MailError, match=r"not trusted.*mail\.smtp\.ssl\.cafile.*mail\.smtp\.ssl\.trust"):
            send_mail(settings(server.port, mail_smtp_ssl_enable="true"), "owner@example.com", SUBJECT, BODY)
        assert server.mailbox.next(timeout=0.2) is None


def test_ssl_trust_for_the_host_accepts_its_certificate_unchecked(server_tls):
    with SmtpServer("starttls", tls=server_tls) as server:
        s = settings(server.port, mail_smtp_starttls_enable="true", mail_smtp_ssl_trust="smtp.other 127.0.0.1")
        send_mail(s, "owner@example.com", SUBJECT, BODY)
        assert received(server)


def test_server_identity_is_checked_unless_turned_off(ca):
    wrong_name = ca.server_context(dns=("mail.example",), ips=())
    with SmtpServer("tls", tls=wrong_name) as server:
        s = dict(mail_smtp_ssl_enable="true", mail_smtp_ssl_cafile=ca.cafile)
        with pytest.raises(MailError, match="not trusted"):
            send_mail(settings(server.port, **s), "owner@example.com", SUBJECT, BODY)
        send_mail(settings(server.port, mail_smtp_ssl_checkserveridentity="false", **s),
                  "owner@example.com", SUBJECT, BODY)
        assert received(server)


def test_starttls_required_but_not_offered_is_refused_before_any_password_is_sent():
    with SmtpServer("plain") as server:
        s = settings(server.port, mail_smtp_starttls_enable="true", mail_smtp_starttls_required="true")
        with pytest.raises(MailError, match="does not offer STARTTLS"):
            send_mail(s, "owner@example.com", SUBJECT, BODY)


def test_implicit_tls_against_a_plain_server_says_tls_failed():
    with SmtpServer("plain") as server:
        with pytest.raises(MailError, match="TLS with 127.0.0.1:.* failed.*mail.smtp.ssl.enable"):
            send_mail(settings(server.port, mail_smtp_ssl_enable="true"), "owner@example.com", SUBJECT, BODY)


# -- failures ---------------------------------------------------------------------------------------
def test_connection_refused():
    with pytest.raises(MailError, match=r"connection to 127\.0\.0\.1:\d+ refused"):
        send_mail(settings(free_port()), "owner@example.com", SUBJECT, BODY)


def test_wrong_password_says_so():
    with SmtpServer("plain", users={"me@example.com": "s3cret"}) as server:
        s = settings(server.port, mail_smtp_auth="true", mail_smtp_username="me@example.com",
                     mail_smtp_password="wrong")
        with pytest.raises(MailError, match=r"refused the user name or password of me@example\.com \(535"):
            send_mail(s, "owner@example.com", SUBJECT, BODY)
        assert server.mailbox.next(timeout=0.2) is None


def test_refused_recipient_is_named():
    with SmtpServer("plain") as server:
        with pytest.raises(MailError, match=r"refused the recipient nobody@example\.com \(550 5\.1\.1"):
            send_mail(settings(server.port, mail_from="a@example.com"), "nobody@example.com", SUBJECT, BODY)


def test_server_that_never_greets_is_given_up_after_the_connection_timeout():
    with SilentServer() as silent:
        started = time.monotonic()
        with pytest.raises(MailError, match="did not answer in time"):
            send_mail(settings(silent.port, mail_smtp_connectiontimeout="300"), "owner@example.com",
                      SUBJECT, BODY)
        assert time.monotonic() - started < 2.0


def test_server_that_stalls_after_data_is_given_up_after_one_read_timeout():
    with SmtpServer("plain", delay=3.0) as server:
        started = time.monotonic()
        with pytest.raises(MailError, match="did not answer in time"):
            send_mail(settings(server.port, mail_smtp_timeout="400"), "owner@example.com", SUBJECT, BODY)
        assert time.monotonic() - started < 1.5, "no second wait for a QUIT answer"


# -- settings ---------------------------------------------------------------------------------------
def test_shipped_placeholder_account_is_not_configured_and_not_tried():
    shipped = {"mail.smtp.host": "smtp.gmail.com", "mail.smtp.username": "example@gmail.com",
               "mail.smtp.password": ""}
    s = MailSettings.from_properties(shipped)
    assert not s.configured
    with pytest.raises(MailError, match="not configured"):
        send_mail(s, "owner@example.com", SUBJECT, BODY)
    assert not MailSettings.from_properties({}).configured
    assert MailSettings.from_properties({**shipped, "mail.smtp.password": "app-password"}).configured


def test_defaults_follow_upstreams_shipped_file():
    s = MailSettings.from_properties({"mail.smtp.host": "smtp.example.com", "mail.smtp.username": "me@example.com"})
    assert (s.port, s.auth, s.starttls, s.implicit_tls) == (587, True, True, False)
    assert (s.connect_timeout, s.timeout, s.sender) == (30.0, 120.0, "me@example.com")
    assert MailSettings.from_properties({"mail.smtp.ssl.enable": "true"}).port == 465
    assert MailSettings.from_properties({"mail.smtp.timeout": "0"}).timeout == 120.0, "every wait bounded"


def test_server_that_wants_a_login_names_the_keys_to_set():
    with SmtpServer("plain", users={"me@example.com": "s3cret"}) as server:
        with pytest.raises(MailError, match=r"wants a login first \(530.*mail\.smtp\.auth=true"):
            send_mail(settings(server.port), "owner@example.com", SUBJECT, BODY)
