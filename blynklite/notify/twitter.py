"""Tweets: `statuses/update` signed with OAuth 1.0a HMAC-SHA1 (RFC 5849), the user's token and
secret from the Twitter widget, the application's keys from twitter4j.properties."""
import base64
import hashlib
import hmac
import os
import time
import urllib.parse

from .http_post import ProviderError, post, snippet

DEFAULT_URL = "https://api.twitter.com/1.1/statuses/update.json"


class TwitterSettings:
    __slots__ = ("consumer_key", "consumer_secret", "url")

    @classmethod
    def from_properties(cls, props):
        s = cls()
        s.consumer_key = (props.get("oauth.consumerKey") or "").strip()
        s.consumer_secret = (props.get("oauth.consumerSecret") or "").strip()
        s.url = (props.get("twitter.url") or DEFAULT_URL).strip()
        return s

    @property
    def configured(self):
        return bool(self.consumer_key and self.consumer_secret)


def _quote(text):
    return urllib.parse.quote(str(text), safe="~-._")


def signature(method, url, params, consumer_secret, token_secret):
    """The RFC 5849 §3.4 HMAC-SHA1 signature of a request with these (oauth and body) parameters."""
    pairs = sorted((_quote(k), _quote(v)) for k, v in params.items())
    base = "&".join((method.upper(), _quote(url), _quote("&".join(f"{k}={v}" for k, v in pairs))))
    key = f"{_quote(consumer_secret)}&{_quote(token_secret)}"
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()).decode()


def authorization(settings, token, token_secret, params, nonce=None, timestamp=None):
    oauth = {"oauth_consumer_key": settings.consumer_key,
             "oauth_nonce": nonce or os.urandom(16).hex(),
             "oauth_signature_method": "HMAC-SHA1",
             "oauth_timestamp": str(timestamp or int(time.time())),
             "oauth_token": token, "oauth_version": "1.0"}
    oauth["oauth_signature"] = signature("POST", settings.url, {**params, **oauth},
                                         settings.consumer_secret, token_secret)
    return "OAuth " + ", ".join(f'{_quote(k)}="{_quote(v)}"' for k, v in sorted(oauth.items()))


def send_tweet(settings, token, token_secret, text):
    """Post a status; returns the HTTP status (200 = posted). ProviderError when unreachable."""
    if not settings.configured:
        raise ProviderError("Twitter is not configured: set oauth.consumerKey and oauth.consumerSecret "
                            "in twitter4j.properties")
    params = {"status": text}
    headers = {"Authorization": authorization(settings, token, token_secret, params),
               "Content-Type": "application/x-www-form-urlencoded"}
    body = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in params.items()).encode()
    status, answer = post(settings.url, body, headers)
    if status != 200:
        raise ProviderError(f"Twitter answered {status} {snippet(answer)}", status)
    return status
