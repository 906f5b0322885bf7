"""Push notifications to the phones registered in a Notification widget.

Owns: the three providers behind `send_push`, chosen by `push.provider` in gcm.properties (keys in
blynklite/notify/__init__.py): the legacy FCM HTTP API with upstream's exact payloads
(spec/behaviours.md §4), FCM HTTP v1 (OAuth2 access token from a service-account key, through an
RS256 JWT signed with `cryptography`, cached until shortly before it expires) and an ntfy-compatible
HTTP push for a local setup. Never does: the handlers' checks, or touching the widget; it returns
the uids of tokens the provider calls dead and the caller drops them.

Invariant: one call sends to every token at most once. A refusal raises PushError (with the
provider's status and the start of its answer) only after every token was tried, so one bad
token does not cost the other phones their push; an unreachable provider raises at once (status None).
"""
import base64
import json
import threading
import time
import urllib.parse

from .http_post import ProviderError, post, post_json, snippet

LEGACY, V1, NTFY, NONE = "fcm-legacy", "fcm-v1", "ntfy", "none"
PROVIDERS = (LEGACY, V1, NTFY, NONE)
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
DEFAULT_V1_ENDPOINT = "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send"
TOKEN_LIFETIME = 3600      # seconds; Google's maximum for a JWT bearer assertion
TOKEN_MARGIN = 60          # fetch a new access token this long before the old one expires


class PushError(ProviderError):
    pass


class Push:
    """What to send: the widget's token maps (uid → token), the text, title, priority, dashboard id."""
    __slots__ = ("android", "ios", "body", "title", "priority", "dash_id")

    def __init__(self, android, ios, body, title=None, priority="normal", dash_id=0):
        self.android, self.ios = dict(android or {}), dict(ios or {})
        self.body, self.title = body, title
        self.priority = "high" if str(priority).lower() == "high" else "normal"
        self.dash_id = dash_id


class PushSettings:
    __slots__ = ("provider", "legacy_url", "api_key", "service_account", "v1_endpoint", "token_uri",
                 "ntfy_url", "ntfy_topic", "ntfy_token", "title", "offline_body", "_access")

    @classmethod
    def from_properties(cls, props, product_name="Blynk"):
        s = cls()
        s.legacy_url = _text(props, "gcm.server")
        s.api_key = _text(props, "gcm.api.key")
        s.provider = _text(props, "push.provider", LEGACY if s.legacy_url and s.api_key else NONE).lower()
        if s.provider not in PROVIDERS:
            raise ValueError(f"gcm.properties: push.provider: {s.provider!r} is not one of {', '.join(PROVIDERS)}")
        s.service_account = _text(props, "fcm.service.account")
        s.v1_endpoint = _text(props, "fcm.endpoint", DEFAULT_V1_ENDPOINT)
        s.token_uri = _text(props, "fcm.token.uri")
        s.ntfy_url = _text(props, "ntfy.url").rstrip("/")
        s.ntfy_topic = _text(props, "ntfy.topic")
        s.ntfy_token = _text(props, "ntfy.token")
        s.title = _text(props, "notification.title", "{PRODUCT_NAME} Notification").replace("{PRODUCT_NAME}",
                                                                                          product_name)
        s.offline_body = _text(props, "notification.body", "Your {DEVICE_NAME} went offline.")
        s._access = None         # (access token, expiry as time.time()) for fcm-v1
        return s

    @property
    def configured(self):
        return self.provider != NONE


def _text(props, key, default=""):
    return str(props.get(key) or default).strip()


def send_push(settings, push):
    """Send to every token; returns the uids of dead tokens. Raises PushError on failure."""
    if settings.provider == LEGACY:
        return _send_legacy(settings, push)
    if settings.provider == V1:
        return _send_v1(settings, push)
    if settings.provider == NTFY:
        _send_ntfy(settings, push)
        return []
    raise PushError("push is not configured: set push.provider in gcm.properties")


def _raise_failures(provider, failures):
    if failures:
        status, text = failures[0]
        raise PushError(f"{provider} refused {len(failures)} push(es): {status} {text}", status)


# -- the legacy FCM HTTP API, payloads as upstream (spec/behaviours.md §4) ---------------------------
def legacy_payloads(push, title):
    """(uid, JSON body) per token, keys in upstream's order: Android data message, iOS notification."""
    for uid, token in push.android.items():
        yield uid, {"to": token, "priority": push.priority,
                    "data": {"message": push.body, "dashId": push.dash_id}}
    for uid, token in push.ios.items():
        yield uid, {"to": token, "priority": push.priority,
                    "notification": {"body": push.body, "dashId": push.dash_id, "sound": "default",
                                     "title": title}}


def _send_legacy(settings, push):
    if not settings.legacy_url or not settings.api_key:
        raise PushError("push.provider=fcm-legacy needs gcm.server and gcm.api.key in gcm.properties")
    headers = {"Authorization": f"key={settings.api_key}"}
    dead, failures = [], []
    for uid, payload in legacy_payloads(push, push.title or settings.title):
        status, body = post_json(settings.legacy_url, payload, headers, error=PushError)
        if status != 200:
            failures.append((status, snippet(body)))
        elif _legacy_not_registered(body):
            dead.append(uid)
    _raise_failures("FCM", failures)
    return dead


def _legacy_not_registered(body):
    """Upstream's rule: 200 with a failure whose first result's error mentions NotRegistered."""
    try:
        answer = json.loads(body)
        return bool(answer.get("failure")) and "NotRegistered" in str(answer["results"][0].get("error"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return False


# -- FCM HTTP v1 --------------------------------------------------------------------------------------
_access_lock = threading.Lock()


def v1_messages(push, title):
    """(uid, JSON body) per token, one shape for both platforms: a notification the phone shows by
    itself, plus upstream's data fields (`message`, `dashId`, as strings: FCM v1 wants strings) for
    an app that reads them as the Blynk app did; priority and sound in each platform's block."""
    high = push.priority == "high"
    for uid, token in list(push.android.items()) + list(push.ios.items()):
        yield uid, {"message": {"token": token, "notification": {"title": title, "body": push.body},
                                "data": {"message": push.body, "dashId": str(push.dash_id)},
                                "android": {"priority": "HIGH" if high else "NORMAL"},
                                "apns": {"headers": {"apns-priority": "10" if high else "5"},
                                         "payload": {"aps": {"sound": "default"}}}}}


def _send_v1(settings, push):
    account = _service_account(settings)
    url = settings.v1_endpoint.replace("{project_id}", urllib.parse.quote(account["project_id"], safe=""))
    headers = {"Authorization": f"Bearer {_access_token(settings, account)}"}
    dead, failures = [], []
    for uid, message in v1_messages(push, push.title or settings.title):
        status, body = post_json(url, message, headers, error=PushError)
        if status == 404 and b"UNREGISTERED" in body:
            dead.append(uid)
        elif status != 200:
            failures.append((status, snippet(body)))
            if status == 401:
                settings._access = None      # revoked or expired early: the next push fetches a new one
    _raise_failures("FCM v1", failures)
    return dead


def _service_account(settings):
    if not settings.service_account:
        raise PushError("push.provider=fcm-v1 needs fcm.service.account (the service-account JSON file)")
    try:
        with open(settings.service_account, encoding="utf-8") as f:
            account = json.load(f)
    except (OSError, ValueError) as error:
        raise PushError(f"fcm.service.account: cannot read {settings.service_account}: {error}") from None
    missing = [k for k in ("client_email", "private_key", "project_id") if not account.get(k)]
    if missing:
        raise PushError(f"fcm.service.account: {settings.service_account} lacks {', '.join(missing)}")
    return account


def _access_token(settings, account):
    """An OAuth2 access token for the service account, fetched again shortly before it expires."""
    with _access_lock:
        if settings._access and settings._access[1] > time.time() + TOKEN_MARGIN:
            return settings._access[0]
        token_uri = settings.token_uri or account.get("token_uri") or DEFAULT_TOKEN_URI
        assertion = signed_jwt(account, token_uri, int(time.time()))
        form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                       "assertion": assertion}).encode()
        status, body = post(token_uri, form, {"Content-Type": "application/x-www-form-urlencoded"},
                            error=PushError)
        try:
            answer = json.loads(body)
            token, lifetime = answer["access_token"], int(answer.get("expires_in", TOKEN_LIFETIME))
        except (ValueError, KeyError, TypeError):
            raise PushError(f"no access token from {token_uri}: {status} {snippet(body)}", status) from None
        settings._access = (token, time.time() + lifetime)
        return token


def signed_jwt(account, audience, now):
    """RS256 JWT bearer assertion (RFC 7523) for Google's OAuth2 token endpoint."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    header = {"alg": "RS256", "typ": "JWT"}
    if account.get("private_key_id"):
        header["kid"] = account["private_key_id"]
    claims = {"iss": account["client_email"], "scope": FCM_SCOPE, "aud": audience,
              "iat": now, "exp": now + TOKEN_LIFETIME}
    signing_input = f"{_b64_json(header)}.{_b64_json(claims)}".encode("ascii")
    try:
        key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    except (ValueError, TypeError) as error:
        raise PushError(f"fcm.service.account: the private_key is not a usable PEM key ({error})") from None
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode("ascii") + "." + _b64(signature)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_json(value):
    return _b64(json.dumps(value, separators=(",", ":")).encode())


# -- ntfy ---------------------------------------------------------------------------------------------
def _send_ntfy(settings, push):
    if not settings.ntfy_url or not settings.ntfy_topic:
        raise PushError("push.provider=ntfy needs ntfy.url and ntfy.topic in gcm.properties")
    headers = {"Title": _header_text(push.title or settings.title),
               "Priority": "high" if push.priority == "high" else "default",
               "Content-Type": "text/plain; charset=utf-8"}
    if settings.ntfy_token:
        headers["Authorization"] = f"Bearer {settings.ntfy_token}"
    url = f"{settings.ntfy_url}/{urllib.parse.quote(settings.ntfy_topic, safe='')}"
    status, body = post(url, push.body.encode("utf-8"), headers, error=PushError)
    if status != 200:
        raise PushError(f"ntfy refused the push: {status} {snippet(body)}", status)


def _header_text(text):
    """One line; ASCII as is, anything else as an RFC 2047 encoded word, which ntfy decodes."""
    text = " ".join(str(text).splitlines())
    if text.isascii():
        return text
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="
