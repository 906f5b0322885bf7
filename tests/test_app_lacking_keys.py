"""At start, a configured key whose feature blynklite lacks is a WARNING naming the key (issue 11)."""
from blynklite.config import DEFAULTS, LACKING_FEATURES, ServerConfig, lacking_features


def test_defaults_warn_about_nothing():
    assert lacking_features(ServerConfig()) == []


def test_each_lacking_key_set_away_from_its_default_is_named():
    for key in LACKING_FEATURES:
        default = DEFAULTS[key]
        other = (not default) if isinstance(default, bool) else default + 1
        lines = lacking_features(ServerConfig({key: other}))
        assert len(lines) == 1 and lines[0].startswith(f"{key}=") and "not supported" in lines[0], lines


def test_the_running_server_logs_the_warning(make_server):
    server = make_server(force_port_80_for_redirect="false")
    text = server.log_text() + server.banner
    assert "WARN" in text.upper() and "force.port.80.for.redirect=false: not supported by blynklite" in text
