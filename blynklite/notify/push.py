"""Push notifications to the phones registered in a Notification widget.

Three providers, chosen by `push.provider` in gcm.properties (see blynklite/notify/__init__.py):
the legacy FCM HTTP API with upstream's exact payloads, FCM HTTP v1 (OAuth2 with a service-account
key, a JWT signed with `cryptography`), and an ntfy-compatible HTTP push for a local setup.
`send_push` returns the uids whose tokens the provider says are dead, so the caller can drop them.
"""
import base64
import json
import threading
import time
import urllib.parse

from .http_post import ProviderError, post, post_json, snippet

LEGACY, V1, NTFY, NONE = "fcm-legacy", "fcm-v1", "ntfy", "none"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_V1_ENDPOINT = "https://fcm.googleapis.com/v1/projects/{project_id}/messages:send"
TOKEN_LIFETIME = 3600


class Push:
    """What to send: the widget's token maps (uid → token), the text, title, priority, dashboard id."""
    __slots__ = ("android", "ios", "body", "title", "priority", "dash_id")

    def __init__(self, android, ios, body, title, priority="normal", dash_id=0):
        self.android, self.ios = dict(android or {}), dict(ios or {})
        self.body, self.title = body, title
        self.priority = "high" if priority == "high" else "normal"
        self.dash_id = dash_id


class PushSettings:
    __slots__ = ("provider", "legacy_url", "api_key", "service_account", "v1_endpoint", "token_uri",
                 "ntfy_url", "ntfy_topic", "ntfy_token", "title", "offline_body", "_access")

    @classmethod
    def from_properties(cls, props, product_name="Blynk"):
        s = cls()
        s.legacy_url = (props.get("gcm.server") or "").strip()
        s.api_key = (props.get("gcm.api.key") or "").strip()
        default = LEGACY if s.legacy_url and s.api_key else NONE
        s.provider = (props.get("push.provider") or default).strip().lower()
        if s.provider not in (LEGACY, V1, NTFY, NONE):
            raise ValueError(f"gcm.properties: push.provider: {s.provider!r} is not one of "
                             f"{LEGACY}, {V1}, {NTFY}, {NONE}")
        s.service_account = (props.get("fcm.service.account") or "").strip()
        s.v1_endpoint = (props.get("fcm.endpoint") or DEFAULT_V1_ENDPOINT).strip()
        s.token_uri = (props.get("fcm.token.uri") or "").strip()
        s.ntfy_url = (props.get("ntfy.url") or "").strip().rstrip("/")
        s.ntfy_topic = (props.get("ntfy.topic") or "").strip()
        s.ntfy_token = (props.get("ntfy.token") or "").strip()
        title = props.get("notification.title") or "{PRODUCT_NAME} Notification"
        s.title = title.replace("{PRODUCT_NAME}", product_name)
        s.offline_body = props.get("notification.body") or "Your {DEVICE_NAME} went offline."
        s._access = None
        return s

    @property
    def configured(self):
        return self.provider != NONE


def send_push(settings, push):
    """Send to every token; returns the uids of dead tokens. Raises ProviderError on failure."""
    if settings.provider == LEGACY:
        return _send_legacy(settings, push)
    if settings.provider == V1:
        return _send_v1(settings, push)
    if settings.provider == NTFY:
        _send_ntfy(settings, push)
        return []
    raise ProviderError("push is not configured: set push.provider in gcm.properties")


# -- the legacy FCM HTTP API, payloads as upstream (spec/behaviours.md §4) ---------------------------
def legacy_payloads(push, title):
    for uid, token in push.android.items():
        yield uid, {"to": token, "priority": push.priority,
                    "data": {"message": push.body, "dashId": push.dash_id}}
    for uid, token in push.ios.items():
        yield uid, {"to": token, "priority": push.priority,
                    "notification": {"body": push.body, "dashId": push.dash_id, "sound": "default",
                                     "title": title}}


def _send_legacy(settings, push):
    dead, failures = [], []
    for uid, payload in legacy_payloads(push, push.title or settings.title):
        status, body = post_json(settings.legacy_url, payload, {"Authorization": f"key={settings.api_key}"})
        if status != 200:
            failures.append(f"{status} {snippet(body)}")
            continue
        try:
            answer = json.loads(body)
        except ValueError:
            continue
        if answer.get("failure") and "NotRegistered" in str((answer.get("results") or [{}])[0].get("error")):
            dead.append(uid)
    if failures:
        raise ProviderError(f"FCM refused {len(failures)} push(es): {failures[0]}")
    return dead


# -- FCM HTTP v1 --------------------------------------------------------------------------------------
_access_lock = threading.Lock()


def _send_v1(settings, push):
    account = _service_account(settings)
    url = settings.v1_endpoint.replace("{project_id}", account["project_id"])
    headers = {"Authorization": f"Bearer {_access_token(settings, account)}"}
    dead, failures = [], []
    for uid, token in list(push.android.items()) + list(push.ios.items()):
        message = {"message": {"token": token,
                               "notification": {"title": push.title or settings.title, "body": push.body},
                               "data": {"dashId": str(push.dash_id)},
                               "android": {"priority": push.priority.upper()},
                               "apns": {"payload": {"aps": {"sound": "default"}}}}}
        status, body = post_json(url, message, headers)
        if status == 404 and b"UNREGISTERED" in body:
            dead.append(uid)
        elif status != 200:
            failures.append(f"{status} {snippet(body)}")
    if failures:
        raise ProviderError(f"FCM v1 refused {len(failures)} push(es): {failures[0]}")
    return dead


def _service_account(settings):
    try:
        with open(settings.service_account, encoding="utf-8") as f:
            account = json.load(f)
    except (OSError, ValueError) as error:
        raise ProviderError(f"fcm.service.account: cannot read {settings.service_account}: {error}") from None
    missing = [k for k in ("client_email", "private_key", "project_id") if not account.get(k)]
    if missing:
        raise ProviderError(f"fcm.service.account: {settings.service_account} lacks {', '.join(missing)}")
    return account


def _access_token(settings, account):
    """An OAuth2 access token for the service account, fetched again shortly before it expires."""
    with _access_lock:
        if settings._access and settings._access[1] > time.time() + 60:
            return settings._access[0]
        token_uri = settings.token_uri or account.get("token_uri") or "https://oauth2.googleapis.com/token"
        assertion = signed_jwt(account, token_uri, int(time.time()))
        form = urllib.parse.urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                       "assertion": assertion}).encode()
        status, body = post(token_uri, form, {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            answer = json.loads(body)
            token = answer["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError(f"no access token from {token_uri}: {status} {snippet(body)}", status) from None
        settings._access = (token, time.time() + int(answer.get("expires_in", TOKEN_LIFETIME)))
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
    key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return signing_input.decode("ascii") + "." + _b64(signature)


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64_json(value):
    return _b64(json.dumps(value, separators=(",", ":")).encode())


# -- ntfy ---------------------------------------------------------------------------------------------
def _send_ntfy(settings, push):
    if not settings.ntfy_url or not settings.ntfy_topic:
        raise ProviderError("push.provider=ntfy needs ntfy.url and ntfy.topic in gcm.properties")
    headers = {"Title": (push.title or settings.title).encode("utf-8").decode("latin-1"),
               "Priority": "high" if push.priority == "high" else "default",
               "Content-Type": "text/plain; charset=utf-8"}
    if settings.ntfy_token:
        headers["Authorization"] = f"Bearer {settings.ntfy_token}"
    url = f"{settings.ntfy_url}/{urllib.parse.quote(settings.ntfy_topic)}"
    status, body = post(url, push.body.encode("utf-8"), headers)
    if status != 200:
        raise ProviderError(f"ntfy answered {status} {snippet(body)}", status)
