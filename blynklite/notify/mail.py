"""Sending one e-mail over SMTP: plain, STARTTLS or implicit TLS, with or without AUTH.

Runs on a worker thread. Every failure is a MailError whose message says what went wrong in words
a user can act on (wrong password, connection refused, certificate not trusted, ...).
"""
import smtplib
import socket
import ssl

SHIPPED_USERNAME = "example@gmail.com"   # the placeholder upstream's mail.properties ships with


class MailError(Exception):
    pass


def _flag(value, default):
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip().lower() == "true"


def _number(value, default):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


class MailSettings:
    __slots__ = ("host", "port", "auth", "username", "password", "starttls", "starttls_required",
                 "implicit_tls", "connect_timeout", "timeout", "sender", "trust", "cafile")

    @classmethod
    def from_properties(cls, props, product_name="Blynk"):
        s = cls()
        s.host = (props.get("mail.smtp.host") or "").strip()
        s.implicit_tls = _flag(props.get("mail.smtp.ssl.enable"), False)
        s.port = _number(props.get("mail.smtp.port"), 465 if s.implicit_tls else 587)
        s.auth = _flag(props.get("mail.smtp.auth"), True)
        s.username = (props.get("mail.smtp.username") or "").strip()
        s.password = props.get("mail.smtp.password") or ""
        s.starttls = _flag(props.get("mail.smtp.starttls.enable"), True)
        s.starttls_required = _flag(props.get("mail.smtp.starttls.required"), False)
        s.connect_timeout = _number(props.get("mail.smtp.connectiontimeout"), 30000) / 1000
        s.timeout = _number(props.get("mail.smtp.timeout"), 120000) / 1000
        sender = (props.get("mail.from") or s.username or f"{product_name.lower()}@localhost").strip()
        s.sender = sender.replace("{PRODUCT_NAME}", product_name)
        s.trust = (props.get("mail.smtp.ssl.trust") or "").strip()
        s.cafile = (props.get("mail.smtp.ssl.cafile") or "").strip() or None
        return s

    @property
    def configured(self):
        shipped_placeholder = self.username == SHIPPED_USERNAME and not self.password
        return bool(self.host) and not shipped_placeholder

    def tls_context(self):
        context = ssl.create_default_context(cafile=self.cafile)
        if self.trust == "*" or self.trust == self.host:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def build_message(settings, to, subject, body, html=False):
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(body, subtype="html" if html else "plain", charset="utf-8")
    return message


def send_mail(settings, to, subject, body, html=False):
    """Deliver one message or raise MailError."""
    if not settings.configured:
        raise MailError("mail is not configured: set mail.smtp.host, mail.smtp.username and "
                        "mail.smtp.password in mail.properties")
    message = build_message(settings, to, subject, body, html)
    try:
        with _connect(settings) as smtp:
            smtp.sock.settimeout(settings.timeout)
            _secure(smtp, settings)
            if settings.auth and settings.username:
                smtp.login(settings.username, settings.password)
            refused = smtp.send_message(message, from_addr=settings.sender, to_addrs=[to])
            if refused:
                raise MailError(f"the server refused the recipient {to}: {refused[to]}")
    except smtplib.SMTPAuthenticationError as error:
        raise MailError(f"the SMTP server refused the user name or password ({_reply(error)})") from None
    except smtplib.SMTPRecipientsRefused as error:
        raise MailError(f"the server refused the recipient {to} ({_reply(error.recipients.get(to))})") from None
    except smtplib.SMTPSenderRefused as error:
        raise MailError(f"the server refused the sender {settings.sender} ({_reply(error)})") from None
    except smtplib.SMTPNotSupportedError as error:
        raise MailError(f"the SMTP server does not support {error}") from None
    except smtplib.SMTPException as error:
        raise MailError(f"SMTP error: {error}") from None
    except ssl.SSLCertVerificationError as error:
        raise MailError(f"the certificate of {settings.host} is not trusted ({error.verify_message}); "
                        f"set mail.smtp.ssl.cafile, or mail.smtp.ssl.trust={settings.host}") from None
    except ssl.SSLError as error:
        raise MailError(f"TLS with {settings.host}:{settings.port} failed: {error.reason or error}") from None
    except socket.timeout:
        raise MailError(f"{settings.host}:{settings.port} did not answer in time") from None
    except ConnectionRefusedError:
        raise MailError(f"connection to {settings.host}:{settings.port} refused") from None
    except OSError as error:
        raise MailError(f"cannot reach {settings.host}:{settings.port}: {error.strerror or error}") from None


def _connect(settings):
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.connect_timeout,
                                context=settings.tls_context())
    return smtplib.SMTP(settings.host, settings.port, timeout=settings.connect_timeout)


def _secure(smtp, settings):
    if settings.implicit_tls:
        return
    smtp.ehlo()
    if settings.starttls and smtp.has_extn("starttls"):
        smtp.starttls(context=settings.tls_context())
        smtp.ehlo()
    elif settings.starttls_required:
        raise MailError(f"{settings.host} does not offer STARTTLS, which mail.smtp.starttls.required asks for")


def _reply(error):
    if isinstance(error, tuple):
        code, text = error[0], error[1]
    else:
        code, text = getattr(error, "smtp_code", ""), getattr(error, "smtp_error", b"")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()
