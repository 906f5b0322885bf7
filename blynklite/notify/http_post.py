"""One HTTP POST for the notification senders: status and body back, or a ProviderError."""
import json

DEFAULT_TIMEOUT = 15.0


class ProviderError(Exception):
    """The provider could not be reached, or answered with an error."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def post(url, body, headers, timeout=DEFAULT_TIMEOUT):
    """POST `body` (bytes) to `url`; (status, response bytes) for any HTTP answer."""
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(65536)
    except urllib.error.HTTPError as error:
        return error.code, error.read(65536)
    except urllib.error.URLError as error:
        raise ProviderError(f"cannot reach {url}: {error.reason}") from None
    except OSError as error:
        raise ProviderError(f"cannot reach {url}: {error}") from None


def post_json(url, value, headers, timeout=DEFAULT_TIMEOUT):
    headers = {"Content-Type": "application/json; charset=utf-8", **headers}
    return post(url, json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
                headers, timeout)


def snippet(body):
    return body[:200].decode("utf-8", "replace")
