"""One HTTP POST for the push, SMS and Twitter senders: (status, body) back for any HTTP answer.

Owns: the request, its timeout, and turning "could not talk to the provider at all" into the
sender's own error class with `status=None`. Never does: decide whether a status is a failure;
each sender reads its provider's answer itself.
"""
import json

DEFAULT_TIMEOUT = 15.0     # seconds for connect and for each read; a worker thread waits at most this
ANSWER_LIMIT = 65536       # bytes of a provider's answer we read; replies we parse are far smaller


class ProviderError(Exception):
    """The provider could not be reached (`status` None) or answered with an error (`status` set)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def post(url, body, headers, timeout=DEFAULT_TIMEOUT, error=ProviderError):
    """POST `body` (bytes) to `url`; (status, response bytes). Raises `error` when unreachable."""
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(ANSWER_LIMIT)
    except urllib.error.HTTPError as answer:
        with answer:
            return answer.code, answer.read(ANSWER_LIMIT)
    except urllib.error.URLError as failure:
        raise error(f"cannot reach {_origin(url)}: {failure.reason}") from None
    except (OSError, ValueError) as failure:     # timeouts while reading; a malformed URL
        raise error(f"cannot reach {_origin(url)}: {failure}") from None


def post_json(url, value, headers, timeout=DEFAULT_TIMEOUT, error=ProviderError):
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return post(url, body, {"Content-Type": "application/json; charset=utf-8", **headers}, timeout, error)


def snippet(body, limit=200):
    """The start of a provider's answer, for an error message or a log line."""
    return body[:limit].decode("utf-8", "replace").strip()


def _origin(url):
    """scheme://host[:port]/path without the query, which may carry credentials."""
    return url.split("?", 1)[0]
