"""Tweets: `POST statuses/update` signed with OAuth 1.0a HMAC-SHA1 (RFC 5849).

Owns: reading twitter4j.properties (the application's consumer key and secret), the signature, and
one request with the user's token and secret from the Twitter widget. Never does: the length or
widget checks (the handlers do).

Invariant: the form body sent is byte for byte the parameters that were signed (both use RFC 5849
§3.6 percent-encoding), so the server computes the same signature. Failures raise TwitterError:
`status` None when Twitter could not be reached, else its HTTP status (upstream answers the device
differently for the two).
"""
import base64
import hashlib
import hmac
import os
import time
import urllib.parse

from .http_post import ProviderError, post, snippet

DEFAULT_URL = "https://api.twitter.com/1.1/statuses/update.json"


class TwitterError(ProviderError):
    pass


class TwitterSettings:
    __slots__ = ("consumer_key", "consumer_secret", "url")

    @classmethod
    def from_properties(cls, props):
        s = cls()
        s.consumer_key = str(props.get("oauth.consumerKey") or "").strip()
        s.consumer_secret = str(props.get("oauth.consumerSecret") or "").strip()
        s.url = str(props.get("twitter.url") or DEFAULT_URL).strip()
        return s

    @property
    def configured(self):
        return bool(self.consumer_key and self.consumer_secret)


def percent_encode(text):
    """RFC 5849 §3.6: UTF-8, then every byte but ALPHA, DIGIT, '-', '.', '_', '~' as %XX."""
    return urllib.parse.quote(str(text), safe="~")


def _pairs(params):
    return list(params.items()) if hasattr(params, "items") else list(params)


def signature_base(method, url, params):
    """RFC 5849 §3.4.1: method, base string URI and the sorted, encoded parameters, joined by '&'.
    `params` is a mapping or a list of (name, value) pairs (names may repeat)."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in _pairs(params))
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join((method.upper(), percent_encode(base_uri(url)), percent_encode(normalized)))


def base_uri(url):
    """RFC 5849 §3.4.1.2: lower-case scheme and host, no default port, no query or fragment."""
    parts = urllib.parse.urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default_port = {"http": 80, "https": 443}.get(scheme)
    netloc = host if parts.port in (None, default_port) else f"{host}:{parts.port}"
    return f"{scheme}://{netloc}{parts.path or '/'}"


def signature(method, url, params, consumer_secret, token_secret):
    """The RFC 5849 §3.4.2 HMAC-SHA1 signature over the oauth_* and request parameters."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), signature_base(method, url, params).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization(settings, token, token_secret, params, nonce=None, timestamp=None):
    """The `Authorization: OAuth ...` header value for a POST of `params` to settings.url."""
    oauth = {"oauth_consumer_key": settings.consumer_key,
             "oauth_nonce": nonce or os.urandom(16).hex(),
             "oauth_signature_method": "HMAC-SHA1",
             "oauth_timestamp": str(timestamp or int(time.time())),
             "oauth_token": token, "oauth_version": "1.0"}
    query = urllib.parse.parse_qsl(urllib.parse.urlsplit(settings.url).query, keep_blank_values=True)
    oauth["oauth_signature"] = signature("POST", settings.url, query + _pairs(params) + list(oauth.items()),
                                         settings.consumer_secret, token_secret)
    return "OAuth " + ", ".join(f'{percent_encode(k)}="{percent_encode(v)}"' for k, v in sorted(oauth.items()))


def form_body(params):
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in _pairs(params)).encode("ascii")


def send_tweet(settings, token, token_secret, text):
    """Post a status; returns 200. TwitterError when unreachable or on any other status."""
    if not settings.configured:
        raise TwitterError("Twitter is not configured: set oauth.consumerKey and oauth.consumerSecret "
                           "in twitter4j.properties")
    params = {"status": text}
    headers = {"Authorization": authorization(settings, token, token_secret, params),
               "Content-Type": "application/x-www-form-urlencoded"}
    status, answer = post(settings.url, form_body(params), headers, error=TwitterError)
    if status != 200:
        raise TwitterError(f"Twitter answered {status} {snippet(answer)}", status)
    return status
