"""Sending one e-mail over SMTP: plain, STARTTLS or implicit TLS, with or without AUTH.

Owns: reading mail.properties (JavaMail key names), the TLS policy for the SMTP server, building the
message and the SMTP conversation. Never does: quotas, recipients' validity or templates (the
handlers do), and it never runs on the reactor thread: every call blocks for up to the configured
timeouts.

Invariant: every failure leaves as a MailError whose message says what went wrong in words a user
can act on (connection refused, no answer in time, wrong password, recipient refused, certificate
not trusted), and every wait is bounded by mail.smtp.connectiontimeout or mail.smtp.timeout.
"""
import smtplib
import ssl

SHIPPED_USERNAME = "example@gmail.com"   # the placeholder upstream's mail.properties ships with
CONNECT_TIMEOUT_MS = 30000               # upstream's shipped mail.smtp.connectiontimeout
TIMEOUT_MS = 120000                      # upstream's shipped mail.smtp.timeout


class MailError(Exception):
    pass


def _flag(value, default):
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip().lower() == "true"


def _number(value, default):
    """A positive integer property; JavaMail's 0 ("wait forever") falls back to the default too."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _text(props, key, default=""):
    return str(props.get(key) or default).strip()


class MailSettings:
    __slots__ = ("host", "port", "auth", "username", "password", "starttls", "starttls_required",
                 "implicit_tls", "connect_timeout", "timeout", "sender", "trusted_hosts",
                 "check_identity", "cafile", "local_hostname")

    @classmethod
    def from_properties(cls, props, product_name="Blynk"):
        s = cls()
        s.host = _text(props, "mail.smtp.host")
        s.implicit_tls = _flag(props.get("mail.smtp.ssl.enable"), False)
        s.port = _number(props.get("mail.smtp.port"), 465 if s.implicit_tls else 587)
        s.auth = _flag(props.get("mail.smtp.auth"), True)
        s.username = _text(props, "mail.smtp.username")
        s.password = str(props.get("mail.smtp.password") or "")
        s.starttls = _flag(props.get("mail.smtp.starttls.enable"), True)
        s.starttls_required = _flag(props.get("mail.smtp.starttls.required"), False)
        s.connect_timeout = _number(props.get("mail.smtp.connectiontimeout"), CONNECT_TIMEOUT_MS) / 1000
        s.timeout = _number(props.get("mail.smtp.timeout"), TIMEOUT_MS) / 1000
        sender = _text(props, "mail.from") or s.username or f"{product_name.lower()}@localhost"
        s.sender = sender.replace("{PRODUCT_NAME}", product_name)
        s.trusted_hosts = frozenset(_text(props, "mail.smtp.ssl.trust").split())
        s.check_identity = _flag(props.get("mail.smtp.ssl.checkserveridentity"), True)
        s.cafile = _text(props, "mail.smtp.ssl.cafile") or None
        s.local_hostname = _text(props, "mail.smtp.localhost") or None
        return s

    @property
    def configured(self):
        shipped_placeholder = self.username == SHIPPED_USERNAME and not self.password
        return bool(self.host) and not shipped_placeholder

    @property
    def trusts_any_certificate(self):
        """JavaMail's mail.smtp.ssl.trust: `*`, or a list of hosts whose certificate is not checked."""
        return "*" in self.trusted_hosts or self.host in self.trusted_hosts

    def tls_context(self):
        context = ssl.create_default_context(cafile=self.cafile)
        if self.trusts_any_certificate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif not self.check_identity:
            context.check_hostname = False
        return context


def build_message(settings, to, subject, body, html=False, attachments=()):
    """`attachments`: (file name, bytes, MIME type such as `image/png`) triples."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid, parseaddr
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = " ".join(str(subject).splitlines())   # a header cannot hold a line break
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=parseaddr(settings.sender)[1].rpartition("@")[2] or "localhost")
    message.set_content(body, subtype="html" if html else "plain", charset="utf-8")
    for filename, data, mime_type in attachments:
        maintype, _, subtype = mime_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def send_mail(settings, to, subject, body, html=False, attachments=()):
    """Deliver one message to `to` or raise MailError."""
    if not settings.configured:
        raise MailError("mail is not configured: set mail.smtp.host, mail.smtp.username and "
                        "mail.smtp.password in mail.properties")
    try:
        message = build_message(settings, to, subject, body, html, attachments)
    except (ValueError, TypeError) as error:
        raise MailError(f"cannot build a mail to {to!r}: {error}") from None
    try:
        _deliver(settings, message, to)
    except MailError:
        raise
    except OSError as error:          # smtplib.SMTPException and ssl.SSLError are OSErrors too
        raise MailError(explain(error, settings, to)) from None


def _deliver(settings, message, to):
    smtp = _connect(settings)
    try:
        smtp.sock.settimeout(settings.timeout)
        _secure(smtp, settings)
        if settings.auth and settings.username:
            smtp.login(settings.username, settings.password)
        smtp.send_message(message, from_addr=settings.sender, to_addrs=[to])
    except BaseException:
        smtp.close()              # no QUIT: a server that stopped answering would cost a second timeout
        raise
    _quit(smtp)


def _connect(settings):
    if settings.implicit_tls:
        return smtplib.SMTP_SSL(settings.host, settings.port, settings.local_hostname,
                                timeout=settings.connect_timeout, context=settings.tls_context())
    return smtplib.SMTP(settings.host, settings.port, settings.local_hostname,
                        timeout=settings.connect_timeout)


def _secure(smtp, settings):
    if settings.implicit_tls:
        return
    smtp.ehlo()
    if settings.starttls and smtp.has_extn("starttls"):
        smtp.starttls(context=settings.tls_context())
        smtp.ehlo()
    elif settings.starttls_required:
        raise MailError(f"{settings.host}:{settings.port} does not offer STARTTLS, which "
                        f"mail.smtp.starttls.required asks for")


def _quit(smtp):
    try:
        smtp.quit()
    except OSError:               # the mail is accepted; a rude goodbye changes nothing
        smtp.close()


def explain(error, settings, to):
    """Words for a failed SMTP conversation, most specific first."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"{where} refused the user name or password of {settings.username} ({_reply(error)})"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return f"{where} refused the recipient {to} ({_reply(error.recipients.get(to))})"
    if isinstance(error, smtplib.SMTPSenderRefused) and error.smtp_code == 530:
        return (f"{where} wants a login first ({_reply(error)}): set mail.smtp.auth=true, "
                f"mail.smtp.username and mail.smtp.password")
    if isinstance(error, smtplib.SMTPSenderRefused):
        return f"{where} refused the sender {settings.sender} ({_reply(error)})"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"{where}: {error} (check mail.smtp.auth and the TLS keys)"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        if isinstance(error.__context__, TimeoutError):
            return _no_answer(where, settings)
        return f"{where} closed the connection ({error})"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{where} answered {_reply(error)}"
    if isinstance(error, smtplib.SMTPException):
        return f"SMTP error with {where}: {error}"
    return _explain_socket(error, where, settings)


def _explain_socket(error, where, settings):
    if isinstance(error, ssl.SSLCertVerificationError):
        return (f"the certificate of {where} is not trusted ({error.verify_message}); set "
                f"mail.smtp.ssl.cafile to its CA file, or mail.smtp.ssl.trust={settings.host}")
    if isinstance(error, ssl.SSLError):
        return f"TLS with {where} failed ({error.reason or error}); is mail.smtp.ssl.enable right for this port?"
    if isinstance(error, TimeoutError):
        return _no_answer(where, settings)
    if isinstance(error, ConnectionRefusedError):
        return f"connection to {where} refused (nothing listens there)"
    return f"cannot reach {where}: {error.strerror or error}"


def _no_answer(where, settings):
    return (f"{where} did not answer in time (mail.smtp.connectiontimeout {settings.connect_timeout:g} s, "
            f"mail.smtp.timeout {settings.timeout:g} s)")


def _reply(error):
    if error is None:
        return "no reason given"
    if isinstance(error, tuple):
        code, text = error[0], error[1]
    else:
        code, text = getattr(error, "smtp_code", ""), getattr(error, "smtp_error", b"")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()
