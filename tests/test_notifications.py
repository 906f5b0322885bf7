"""Notifications that really arrive (spec/commands.md §4.6–4.8, spec/behaviours.md §4, spec/http-api.md
§2.6–2.7): a device's mail reaches a real SMTP server over plain, STARTTLS and TLS; pushes, SMS and
tweets reach local HTTP servers that check the exact request; quotas, a full queue and a provider
that is down give upstream's replies and a log line, never a crash."""
import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import pytest

from blynklite.codec.commands import Command, Status
from conftest import RunningServer
from devices import app_barrier, device, new_account, open_app
from notify.peers import Recorder, SmtpServer, TestCA

pytest.importorskip("aiosmtpd")


def smtp_server(tmp_path, mode="plain", **kwargs):
    """An SMTP peer; in the TLS modes its certificate comes from a CA whose file is `.cafile`."""
    ca = TestCA(tmp_path) if mode != "plain" else None
    server = SmtpServer(mode, tls=ca and ca.server_context(), **kwargs)
    server.cafile = ca and ca.cafile
    return server


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def start_server(tmp_path, files, **properties):
    server = RunningServer(tmp_path / "blynk", {"notifications.frequency.user.quota.limit": 1, **properties})
    server.workdir.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (server.workdir / name).write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return server.start()


@pytest.fixture
def run_server(tmp_path):
    started = []

    def run(files, **properties):
        started.append(start_server(tmp_path, files, **properties))
        return started[-1]
    yield run
    for server in started:
        server.stop()


def mail_properties(smtp, **extra):
    return {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": smtp.port, "mail.smtp.auth": "false",
            "mail.smtp.username": "blynk@example.com", "mail.smtp.starttls.enable": "false",
            "mail.from": "{PRODUCT_NAME} <blynk@example.com>", **extra}


class Project:
    """An account with an active project, a device logged in, and the widgets asked for."""

    def __init__(self, server, *widgets):
        self.server = server
        self.email = new_account(server)
        self.app = open_app(server, self.email)
        self.dash_id, self.device_id, self.token = self.app.new_device("Boiler")
        for number, widget in enumerate(widgets, start=10):
            body = f"{self.dash_id}\0{json.dumps({'id': number, 'x': 0, 'y': number, 'width': 1, 'height': 1, **widget})}"
            assert self.app.request(Command.CREATE_WIDGET, body)[2] == Status.OK
        app_barrier(self.app)
        self.hw = device(server)
        assert self.hw.login(self.token) == Status.OK
        self.hw.receive_all()

    def add_push_tokens(self, **tokens):
        for uid, token in tokens.items():
            assert self.app.request(Command.ADD_PUSH_TOKEN, f"{self.dash_id}\0{uid}\0{token}")[2] == Status.OK

    def ask(self, command, text, msg_id):
        """Send from the device; the device's reply to that message id (None if none in time)."""
        self.hw.send(command, text, msg_id)
        for _ in range(20):
            message = self.hw.receive()
            if message is None or message[:2] == (Command.RESPONSE, msg_id):
                return message and message[2]
        return None

    def close(self):
        self.hw.close()
        self.app.close()


@pytest.fixture
def projects():
    made = []

    def make(server, *widgets):
        made.append(Project(server, *widgets))
        return made[-1]
    yield make
    for project in made:
        project.close()


# -- mail ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["plain", "starttls", "tls"])
def test_a_device_mail_arrives(tmp_path, run_server, projects, mode):
    with smtp_server(tmp_path, mode, users={"blynk@example.com": "smtp-pass"}) as smtp:
        extra = {"mail.smtp.auth": "true", "mail.smtp.password": "smtp-pass", "mail.smtp.ssl.cafile": smtp.cafile or ""}
        if mode == "starttls":
            extra["mail.smtp.starttls.enable"] = "true"
        if mode == "tls":
            extra["mail.smtp.ssl.enable"] = "true"
        server = run_server({"mail.properties": mail_properties(smtp, **extra)})
        project = projects(server, {"type": "EMAIL"})
        assert project.ask(Command.EMAIL, "to@example.com\0Grüße from {DEVICE_NAME}\0Body of {DEVICE_OWNER_EMAIL}", 7) == Status.OK
        sender, recipients, message = smtp.mailbox.next()
        assert recipients == ["to@example.com"] and sender == "blynk@example.com"
        assert message["Subject"] == "Grüße from Boiler"
        assert message["From"] == "Blynk <blynk@example.com>"
        assert message.get_content_type() == "text/html"
        assert message.get_content().strip() == f"Body of {project.email}"


def test_two_field_mail_goes_to_the_account_and_widget_to_wins(tmp_path, run_server, projects):
    with smtp_server(tmp_path) as smtp:
        server = run_server({"mail.properties": mail_properties(smtp)})
        project = projects(server, {"type": "EMAIL", "contentType": "TEXT_PLAIN"})
        assert project.ask(Command.EMAIL, "Subject\0Text", 1) == Status.OK
        _, recipients, message = smtp.mailbox.next()
        assert recipients == [project.email] and message.get_content_type() == "text/plain"
        fixed = projects(server, {"type": "EMAIL", "to": "fixed@example.com"})
        assert fixed.ask(Command.EMAIL, "other@example.com\0S\0T", 2) == Status.OK
        assert smtp.mailbox.next()[1] == ["fixed@example.com"]


def test_wrong_smtp_password_is_notification_error_and_a_log_line(tmp_path, run_server, projects):
    with smtp_server(tmp_path, "starttls", users={"blynk@example.com": "right"}) as smtp:
        props = mail_properties(smtp, **{"mail.smtp.auth": "true", "mail.smtp.password": "wrong",
                                         "mail.smtp.starttls.enable": "true", "mail.smtp.ssl.cafile": smtp.cafile})
        server = run_server({"mail.properties": props})
        project = projects(server, {"type": "EMAIL"})
        assert project.ask(Command.EMAIL, "S\0T", 3) == Status.NOTIFICATION_ERROR
        assert wait_until(lambda: "refused the user name or password" in server.log_text())
        assert project.hw.is_open()


def test_an_untrusted_certificate_is_refused_unless_trusted_by_name(tmp_path, run_server, projects):
    with smtp_server(tmp_path, "tls") as smtp:
        props = mail_properties(smtp, **{"mail.smtp.ssl.enable": "true"})
        server = run_server({"mail.properties": props})
        project = projects(server, {"type": "EMAIL"})
        assert project.ask(Command.EMAIL, "S\0T", 4) == Status.NOTIFICATION_ERROR
        assert wait_until(lambda: "is not trusted" in server.log_text())


def test_smtp_server_down_and_quota_and_daily_limit(tmp_path, run_server, projects):
    with smtp_server(tmp_path) as smtp:
        port = smtp.port
    server = run_server({"mail.properties": {"mail.smtp.host": "127.0.0.1", "mail.smtp.port": port,
                                             "mail.smtp.auth": "false", "mail.smtp.username": "b@example.com"}},
                        **{"notifications.frequency.user.quota.limit": 60})
    project = projects(server, {"type": "EMAIL"})
    assert project.ask(Command.EMAIL, "S\0T", 5) == Status.NOTIFICATION_ERROR
    assert project.ask(Command.EMAIL, "S\0T", 6) == Status.QUOTA_LIMIT
    assert wait_until(lambda: "connection to 127.0.0.1" in server.log_text() and "refused" in server.log_text())


@pytest.mark.parametrize("body, status", [("", Status.ILLEGAL_COMMAND), ("only-one-field", Status.ILLEGAL_COMMAND),
                                          ("bad address\0S\0T", Status.ILLEGAL_COMMAND)])
def test_bad_mail_requests(tmp_path, run_server, projects, body, status):
    server = run_server({})
    project = projects(server, {"type": "EMAIL"})
    assert project.ask(Command.EMAIL, body, 8) == status


def test_mail_without_a_widget_is_not_allowed(run_server, projects):
    project = projects(run_server({}))
    assert project.ask(Command.EMAIL, "S\0T", 9) == Status.NOT_ALLOWED


def test_app_can_mail_itself_the_device_token(tmp_path, run_server, projects):
    with smtp_server(tmp_path) as smtp:
        server = run_server({"mail.properties": mail_properties(smtp)})
        project = projects(server)
        reply = project.app.request(Command.EMAIL, f"{project.dash_id}\0{project.device_id}")
        assert reply[2] == Status.OK
        _, recipients, message = smtp.mailbox.next()
        assert recipients == [project.email]
        assert message["Subject"] == "Auth Token for My Project project and device Boiler"
        assert f"Auth Token : {project.token}" in message.get_content()


def test_http_email_endpoint(tmp_path, run_server, projects):
    import http.client
    with smtp_server(tmp_path) as smtp:
        server = run_server({"mail.properties": mail_properties(smtp)})
        project = projects(server, {"type": "EMAIL"})
        conn = http.client.HTTPConnection(server.host, server.hw_port, timeout=5)
        conn.request("POST", f"/{project.token}/email", json.dumps({"to": "x@example.com", "subj": "Hi", "title": "Body"}),
                     {"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        _, recipients, message = smtp.mailbox.next()
        assert recipients == ["x@example.com"] and message["Subject"] == "Hi"
        assert message.get_content().strip() == "Body"


# -- push ---------------------------------------------------------------------------------------------

def test_legacy_fcm_push_has_upstreams_payloads(run_server, projects):
    with Recorder() as fcm:
        fcm.reply("/fcm/send", 200, {"success": 1, "failure": 0})
        server = run_server({"gcm.properties": {"gcm.server": fcm.url + "/fcm/send", "gcm.api.key": "KEY"}})
        project = projects(server, {"type": "NOTIFICATION", "priority": "high"})
        project.add_push_tokens(uid1="android-token")
        assert project.ask(Command.PUSH_NOTIFICATION, "Yo {DEVICE_NAME}!", 11) == Status.OK
        request = fcm.next()
        assert (request.method, request.path, request.headers["Authorization"]) == ("POST", "/fcm/send", "key=KEY")
        assert request.headers["Content-Type"] == "application/json; charset=utf-8"
        assert request.json() == {"to": "android-token", "priority": "high",
                                    "data": {"message": "Yo Boiler!", "dashId": project.dash_id}}


def test_an_unregistered_push_token_is_forgotten(run_server, projects):
    with Recorder() as fcm:
        fcm.reply("/", 200, {"success": 0, "failure": 1, "results": [{"error": "NotRegistered"}]})
        server = run_server({"gcm.properties": {"gcm.server": fcm.url, "gcm.api.key": "KEY"}})
        project = projects(server, {"type": "NOTIFICATION"})
        project.add_push_tokens(uid1="dead-token")
        assert project.ask(Command.PUSH_NOTIFICATION, "hello", 12) == Status.OK
        fcm.next()
        assert wait_until(lambda: "removed 1 unregistered push token" in server.log_text())


def test_ntfy_push_and_offline_push(run_server, projects):
    with Recorder() as ntfy:
        server = run_server({"gcm.properties": {"push.provider": "ntfy", "ntfy.url": ntfy.url, "ntfy.topic": "my-home",
                                                "ntfy.token": "tk"}})
        project = projects(server, {"type": "NOTIFICATION", "notifyWhenOffline": True})
        project.add_push_tokens(uid1="phone")
        assert project.ask(Command.PUSH_NOTIFICATION, "Door open", 13) == Status.OK
        request = ntfy.next()
        assert (request.method, request.path, request.body) == ("POST", "/my-home", b"Door open")
        assert request.headers["Title"] == "Blynk Notification" and request.headers["Authorization"] == "Bearer tk"
        project.hw.close()
        assert ntfy.next().body == b"Your Boiler went offline."


def test_fcm_v1_signs_a_jwt_and_sends_with_the_access_token(tmp_path, run_server, projects):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with Recorder() as google:
        account = {"type": "service_account", "project_id": "home-123", "client_email": "svc@home-123.iam",
                   "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()).decode(),
                   "token_uri": google.url + "/token"}
        (tmp_path / "account.json").write_text(json.dumps(account))
        google.reply("/token", 200, {"access_token": "ya29.token", "expires_in": 3600})
        google.reply("/v1/projects/home-123/messages:send", 200, {"name": "m"})
        server = run_server({"gcm.properties": {"push.provider": "fcm-v1", "fcm.service.account": tmp_path / "account.json",
                                                "fcm.endpoint": google.url + "/v1/projects/{project_id}/messages:send"}})
        project = projects(server, {"type": "NOTIFICATION"})
        project.add_push_tokens(uid1="device-token")
        assert project.ask(Command.PUSH_NOTIFICATION, "hello v1", 14) == Status.OK
        request = google.next()
        form = urllib.parse.parse_qs(request.body.decode())
        assert request.path == "/token" and form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        header, claims, signature = form["assertion"][0].split(".")
        pad = lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))  # noqa: E731
        key.public_key().verify(pad(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(pad(claims))
        assert claims["iss"] == "svc@home-123.iam" and claims["aud"] == google.url + "/token"
        assert claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        request = google.next()
        assert request.path == "/v1/projects/home-123/messages:send"
        assert request.headers["Authorization"] == "Bearer ya29.token"
        message = request.json()["message"]
        assert message["token"] == "device-token" and message["notification"]["body"] == "hello v1"


@pytest.mark.parametrize("body, widget, status", [
    ("", {"type": "NOTIFICATION"}, Status.NOTIFICATION_INVALID_BODY),
    ("x" * 256, {"type": "NOTIFICATION"}, Status.NOTIFICATION_INVALID_BODY),
    ("hi", None, Status.NOTIFICATION_NOT_AUTHORIZED),
    ("hi", {"type": "NOTIFICATION"}, Status.NOTIFICATION_NOT_AUTHORIZED)])
def test_push_checks(run_server, projects, body, widget, status):
    project = projects(run_server({}), *([widget] if widget else []))
    assert project.ask(Command.PUSH_NOTIFICATION, body, 15) == status


def test_push_provider_down_still_answers_ok_and_logs(run_server, projects):
    server = run_server({"gcm.properties": {"gcm.server": "http://127.0.0.1:9/fcm/send", "gcm.api.key": "K"}})
    project = projects(server, {"type": "NOTIFICATION"})
    project.add_push_tokens(uid1="t")
    assert project.ask(Command.PUSH_NOTIFICATION, "hi", 16) == Status.OK
    assert project.ask(Command.PUSH_NOTIFICATION, "again", 17) == Status.QUOTA_LIMIT
    assert wait_until(lambda: "push to" in server.log_text() and "failed" in server.log_text())


def test_http_notify_endpoint(run_server, projects):
    import http.client
    with Recorder() as fcm:
        server = run_server({"gcm.properties": {"gcm.server": fcm.url, "gcm.api.key": "K"}})
        project = projects(server, {"type": "NOTIFICATION"})
        conn = http.client.HTTPConnection(server.host, server.hw_port, timeout=5)
        conn.request("POST", f"/{project.token}/notify", json.dumps({"body": "x"}), {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert (response.status, response.read()) == (400, b"Notification widget not initialized.")
        project.add_push_tokens(uid1="tok")
        conn.request("POST", f"/{project.token}/notify", json.dumps({"body": "From HTTP"}), {"Content-Type": "application/json"})
        assert conn.getresponse().status == 200
        conn.close()
        assert fcm.next().json()["data"]["message"] == "From HTTP"


# -- SMS and tweets -----------------------------------------------------------------------------------

def test_sms_goes_to_nexmo_with_the_widget_number(run_server, projects):
    with Recorder() as nexmo:
        nexmo.reply("/sms/json", 200, {"messages": [{"status": "0"}]})
        nexmo.reply("/sms/json", 200, {"messages": [{"status": "2", "error-text": "Missing to"}]})
        server = run_server({"sms.properties": {"nexmo.api.key": "k", "nexmo.api.secret": "s", "nexmo.url": nexmo.url + "/sms/json"}})
        project = projects(server, {"type": "SMS", "to": "+4912345"})
        assert project.ask(Command.SMS, "water leak", 21) == Status.OK
        request = nexmo.next()
        assert request.path == "/sms/json"
        assert urllib.parse.parse_qs(request.body.decode()) == {"api_key": ["k"], "api_secret": ["s"], "from": ["Blynk"],
                                                        "to": ["+4912345"], "text": ["water leak"]}
        project.hw.send(Command.PING, b"", 99)
        wait_until(lambda: False, 1.1)   # past the 1 s frequency limit
        assert project.ask(Command.SMS, "again", 22) == Status.OK      # upstream answers before Nexmo does
        assert wait_until(lambda: "SMS to +4912345 failed" in server.log_text() and "Missing to" in server.log_text())


def test_sms_checks(run_server, projects):
    project = projects(run_server({}), {"type": "SMS"})
    assert project.ask(Command.SMS, "x" * 161, 23) == Status.NOTIFICATION_INVALID_BODY
    assert project.ask(Command.SMS, "hi", 24) == Status.NOTIFICATION_NOT_AUTHORIZED


def test_tweets_are_signed_with_oauth1(run_server, projects):
    with Recorder() as twitter:
        twitter.reply("/1.1/statuses/update.json", 200, {"id": 1})
        twitter.reply("/1.1/statuses/update.json", 403, {"errors": []})
        server = run_server({"twitter4j.properties": {"oauth.consumerKey": "ck", "oauth.consumerSecret": "cs",
                                                      "twitter.url": twitter.url + "/1.1/statuses/update.json"}})
        project = projects(server, {"type": "TWITTER", "token": "ut", "secret": "us"})
        assert project.ask(Command.TWEET, "Temperature 21 °C", 31) == Status.OK
        request = twitter.next()
        path, headers = request.path, request.headers
        assert request.body == b"status=Temperature%2021%20%C2%B0C"
        oauth = dict(urllib.parse.unquote(p.strip()).split("=", 1) for p in headers["Authorization"][6:].split(","))
        oauth = {k: v.strip('"') for k, v in oauth.items()}
        assert oauth["oauth_consumer_key"] == "ck" and oauth["oauth_token"] == "ut"
        params = {k: v for k, v in oauth.items() if k != "oauth_signature"}
        params["status"] = "Temperature 21 °C"
        quote = lambda s: urllib.parse.quote(s, safe="~-._")  # noqa: E731
        base = "&".join(["POST", quote(twitter.url + path),
                         quote("&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(params.items())))])
        expected = base64.b64encode(hmac.new(b"cs&us", base.encode(), hashlib.sha1).digest()).decode()
        assert oauth["oauth_signature"] == expected
        wait_until(lambda: False, 1.1)
        assert project.ask(Command.TWEET, "second", 32) is None     # HTTP 403: no reply, as upstream
        assert project.hw.is_open()


def test_a_full_queue_drops_the_mail_with_a_log_line_and_forwarding_goes_on(tmp_path, run_server, projects):
    with smtp_server(tmp_path, delay=2.0) as smtp:
        server = run_server({"mail.properties": mail_properties(smtp)},
                            **{"notifications.queue.limit": 1, "blocking.processor.thread.pool.limit": 1,
                               "notifications.frequency.user.quota.limit": 0})
        project = projects(server, {"type": "EMAIL"})
        # the new account's welcome mail holds the one worker first: let it through
        assert wait_until(lambda: f"mail to {project.email} sent" in server.log_text(), timeout=10)
        project.hw.send(Command.EMAIL, "slow\0mail", 41)
        project.hw.send(Command.EMAIL, "no\0room", 42)
        assert wait_until(lambda: "the notification queue is full" in server.log_text())
        project.hw.send(Command.HARDWARE, b"vw\x001\x00still here", 43)   # forwarding is not held up
        assert project.app.wait_for(lambda m: m[0] == Command.HARDWARE, 1) is not None
        replies = project.hw.receive_all(timeout=3)
        assert replies == [(Command.RESPONSE, 41, Status.OK)]        # and none for 42, as upstream
        assert smtp.mailbox.next()[2]["Subject"] == "slow"


def test_a_tweet_without_twitter_keys_gets_no_reply_and_a_log_line(run_server, projects):
    server = run_server({})
    project = projects(server, {"type": "TWITTER", "token": "ut", "secret": "us"})
    assert project.ask(Command.TWEET, "hello", 33) is None
    assert wait_until(lambda: "twitter4j.properties" in server.log_text())
    assert project.hw.is_open()
