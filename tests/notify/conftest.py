import pytest

from .peers import Recorder, TestCA


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    """Requests to the loopback peers must not wander off to a proxy from the environment."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def ca(tmp_path_factory):
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def server_tls(ca):
    """TLS context for an SMTP server at 127.0.0.1 / localhost, certificate signed by `ca`."""
    return ca.server_context()


@pytest.fixture
def recorder():
    with Recorder() as server:
        yield server
