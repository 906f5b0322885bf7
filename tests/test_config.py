"""server.properties loading: defaults, files, command line, validation, .properties syntax."""

from pathlib import Path

import pytest

from blynklite.config import DEFAULTS, ConfigError, ServerConfig, load_config, parse_properties

EXAMPLE = Path(__file__).parents[1] / "server.properties.example"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load(argv, cwd, warnings=None):
    return load_config(argv, cwd=str(cwd), warn=(warnings.append if warnings is not None else None))


# ---------------------------------------------------------------- defaults


@pytest.mark.parametrize(
    "key, value",
    [
        ("http.port", 8080),
        ("https.port", 9443),
        ("hardware.mqtt.port", 8440),
        ("hardware.ssl.port", 8441),
        ("force.port.80.for.redirect", True),
        ("allow.store.ip", True),
        ("latest.tls", False),
        ("user.widget.max.size.limit", 20),
        ("user.profile.max.size", 256),
        ("notifications.frequency.user.quota.limit", 5),
        ("webhooks.response.size.limit", 96),
        ("hard.socket.idle.timeout", 10),
        ("app.socket.idle.timeout", 300),
        ("hourly.registrations.limit", 1000),
        ("user.message.quota.limit", 100),
        ("profile.save.worker.period", 60000),
        ("initial.energy", 100000),
        ("logs.folder", "./logs"),
        ("log.level", "info"),
        ("data.folder", ""),
        ("server.host", ""),
        ("admin.pass", ""),
        ("admin.email", "admin@blynk.cc"),
        ("restore.host", "blynk-cloud.com"),
        (
            "allowed.administrator.ips",
            "127.0.0.1/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7",
        ),
    ],
)
def test_defaults_without_any_file(tmp_path, key, value):
    config = load([], tmp_path)
    assert config[key] == value
    assert type(config[key]) is type(value)
    assert config.source == "<defaults>"
    assert config.mail == {} and config.sms == {} and config.restore is False


def test_raw_gives_property_strings(tmp_path):
    raw = load([], tmp_path).raw()
    assert raw["http.port"] == "8080"
    assert raw["allow.store.ip"] == "true"
    assert raw["admin.pass"] == ""
    assert set(raw) == set(DEFAULTS)


def test_get_returns_default_for_missing_key(tmp_path):
    config = load([], tmp_path)
    assert config.get("no.such.key", 7) == 7
    assert config.get("http.port") == 8080
    with pytest.raises(KeyError):
        config["no.such.key"]


# ---------------------------------------------------------------- files and command line


def test_server_properties_in_cwd_overrides_defaults(tmp_path):
    path = write(tmp_path, "server.properties", "http.port=1234\nallow.store.ip=FALSE\nregion=eu\n")
    config = load([], tmp_path)
    assert (config["http.port"], config["allow.store.ip"], config["region"]) == (1234, False, "eu")
    assert config["https.port"] == 9443
    assert config.source == str(path)


def test_server_config_option_replaces_cwd_file(tmp_path):
    write(tmp_path, "server.properties", "http.port=1111\n")
    other = write(tmp_path, "other.properties", "https.port=2222\n")
    config = load(["-serverConfig", str(other)], tmp_path)
    assert (config["http.port"], config["https.port"]) == (8080, 2222)
    assert config.source == str(other)


def test_server_config_option_is_relative_to_cwd(tmp_path):
    write(tmp_path, "my.properties", "region=asia\n")
    assert load(["-serverConfig", "my.properties"], tmp_path)["region"] == "asia"


@pytest.mark.parametrize("option", ["-serverConfig", "-mailConfig", "-smsConfig"])
def test_config_option_with_missing_file_is_an_error(tmp_path, option):
    with pytest.raises(ConfigError, match=rf"{option}: Path nope\.properties not found\."):
        load([option, "nope.properties"], tmp_path)


def test_command_line_beats_file(tmp_path):
    write(tmp_path, "server.properties", "http.port=1111\nhttps.port=2222\ndata.folder=/from/file\n")
    config = load(
        ["-hardPort", "3333", "-appPort", "4444", "-dataFolder", "/from/cli", "-workerThreads", "3"],
        tmp_path,
    )
    assert config["http.port"] == 3333
    assert config["https.port"] == 4444
    assert config["data.folder"] == "/from/cli"
    assert config["server.worker.threads"] == 3


def test_restore_flag(tmp_path):
    assert load(["-restore"], tmp_path).restore is True


def test_mail_and_sms_files(tmp_path):
    write(tmp_path, "mail.properties", "mail.smtp.host=smtp.example.com\nmail.smtp.port=587\n")
    sms = write(tmp_path, "elsewhere.properties", "nexmo.api.key=k\n")
    config = load(["-smsConfig", str(sms)], tmp_path)
    assert config.mail == {"mail.smtp.host": "smtp.example.com", "mail.smtp.port": "587"}
    assert config.sms == {"nexmo.api.key": "k"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-bogus", "1"], "unknown option '-bogus'"),
        (["8080"], "unknown option '8080'"),
        (["-hardPort"], "-hardPort needs a value"),
        (["-hardPort", ""], "-hardPort needs a value"),
        (["-dataFolder", "-restore"], "-dataFolder needs a value"),
        (["-hardPort", "abc"], "command line -hardPort: http.port: 'abc' is not a whole number"),
        (["-appPort", "0"], "https.port: 0 is not a port"),
        (["-workerThreads", "2.5"], "server.worker.threads: '2.5' is not a whole number"),
    ],
)
def test_bad_command_line(tmp_path, argv, message):
    with pytest.raises(ConfigError, match="command line") as error:
        load(argv, tmp_path)
    assert message in str(error.value)


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_prints_usage_and_exits(tmp_path, capsys, flag):
    with pytest.raises(SystemExit) as exit_:
        load([flag], tmp_path)
    assert exit_.value.code == 0
    assert "-serverConfig" in capsys.readouterr().out


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "line, message",
    [
        ("http.port=abc", "http.port: 'abc' is not a whole number"),
        ("http.port=80_80", "http.port: '80_80' is not a whole number"),
        ("http.port=0", "http.port: 0 is not a port (1..65535)"),
        ("https.port=65536", "https.port: 65536 is not a port (1..65535)"),
        ("hardware.mqtt.port=-1", "hardware.mqtt.port: -1 is not a port (0..65535)"),
        ("user.devices.limit=-5", "user.devices.limit: -5 must not be negative"),
        ("enable.db=yes", "enable.db: 'yes' is not true or false"),
    ],
)
def test_bad_value_names_key_and_file(tmp_path, line, message):
    write(tmp_path, "server.properties", line + "\n")
    with pytest.raises(ConfigError) as error:
        load([], tmp_path)
    assert str(error.value) == f"{tmp_path / 'server.properties'}: {message}"


@pytest.mark.parametrize(
    "line, key, value",
    [
        ("http.port= 8081 ", "http.port", 8081),
        ("http.port=+8081", "http.port", 8081),
        ("hardware.mqtt.port=0", "hardware.mqtt.port", 0),
        ("hardware.ssl.port=0", "hardware.ssl.port", 0),
        ("latest.tls= True ", "latest.tls", True),
        ("server.host=example.com", "server.host", "example.com"),
    ],
)
def test_good_values(tmp_path, line, key, value):
    write(tmp_path, "server.properties", line + "\n")
    assert load([], tmp_path)[key] == value


@pytest.mark.parametrize("key", ["http.port", "user.devices.limit", "allow.store.ip"])
def test_empty_typed_value_means_default(tmp_path, key):
    write(tmp_path, "server.properties", f"{key}=\n")
    config = load([], tmp_path)
    assert config[key] == DEFAULTS[key]
    assert config.raw()[key] == ServerConfig().raw()[key]


def test_empty_string_value_is_kept(tmp_path):
    write(tmp_path, "server.properties", "product.name=\n")
    assert load([], tmp_path)["product.name"] == ""


def test_unknown_key_warns_and_is_kept(tmp_path):
    write(tmp_path, "server.properties", "htp.port=1\nhttps.cert=/x.pem\n")
    warnings: list[str] = []
    config = load([], tmp_path, warnings)
    assert len(warnings) == 2
    assert "server.properties" in warnings[0] and "htp.port" in warnings[0]
    assert "did you mean http.port" in warnings[0]
    assert "use server.ssl.cert" in warnings[1]
    assert config.raw()["htp.port"] == "1"
    assert config["http.port"] == 8080


def test_server_config_overrides_for_tests():
    config = ServerConfig({"user.devices.limit": 2, "allow.store.ip": False, "region": "x"})
    assert (config["user.devices.limit"], config["allow.store.ip"], config["region"]) == (2, False, "x")
    with pytest.raises(ConfigError, match="overrides: http.port"):
        ServerConfig({"http.port": "abc"})


# ---------------------------------------------------------------- .properties syntax


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a=1", {"a": "1"}),
        ("a:1", {"a": "1"}),
        ("a 1", {"a": "1"}),
        ("  a  =   1", {"a": "1"}),
        ("a\t:\t1", {"a": "1"}),
        ("a = = 1", {"a": "= 1"}),
        ("a=1 ", {"a": "1 "}),  # trailing whitespace of a value is kept, as in Java
        ("a", {"a": ""}),
        ("a=", {"a": ""}),
        ("# comment\n! also\n\n   # indented\na=1", {"a": "1"}),
        ("a=1 # not a comment", {"a": "1 # not a comment"}),
        ("a=one \\\n    two", {"a": "one two"}),
        ("a=x\\\n  y\\\n  z", {"a": "xyz"}),
        ("a=x\\\\\nb=y", {"a": "x\\", "b": "y"}),  # even backslashes: no continuation
        ("# c \\\na=1", {"a": "1"}),  # comment lines never continue
        ("a=x\\\n# not a comment", {"a": "x# not a comment"}),
        ("a=x\\", {"a": "x"}),  # continuation at end of text
        ("a=1\r\nb=2\rc=3", {"a": "1", "b": "2", "c": "3"}),
        ("a=t\\tn\\nr\\r", {"a": "t\tn\nr\r"}),
        ("a=\\u00e9\\u20AC", {"a": "é€"}),
        ("a=\\uD83D\\uDE00", {"a": "\U0001F600"}),
        ("a=\\q\\=\\:\\\\", {"a": "q=:\\"}),
        ("my\\ key\\=x=v", {"my key=x": "v"}),
        ("k\\:1:v", {"k:1": "v"}),
        ("a=1\na=2", {"a": "2"}),
        ("a=C:\\\\logs", {"a": "C:\\logs"}),
    ],
)
def test_parse_properties(text, expected):
    assert parse_properties(text) == expected


def test_malformed_unicode_escape_names_key_and_source():
    with pytest.raises(ConfigError, match=r"f\.properties: a: malformed \\uXXXX escape"):
        parse_properties("a=\\u12G4", "f.properties")


def test_latin1_file_is_read(tmp_path):
    (tmp_path / "server.properties").write_bytes("product.name=Caf\xe9\n".encode("latin-1"))
    assert load([], tmp_path)["product.name"] == "Café"


# ---------------------------------------------------------------- the shipped example


def test_example_file_gives_exactly_the_defaults(tmp_path):
    warnings: list[str] = []
    config = load(["-serverConfig", str(EXAMPLE)], tmp_path, warnings)
    assert warnings == []
    assert config.raw() == ServerConfig().raw()


def test_example_file_documents_every_key_once():
    props = parse_properties(EXAMPLE.read_text(encoding="utf-8"))
    assert sorted(props) == sorted(DEFAULTS)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), f"no comment above {line!r}"


def test_a_log_level_that_log4j_does_not_know_is_an_error_naming_the_key(tmp_path):
    (tmp_path / "server.properties").write_text("log.level=loud\n")
    with pytest.raises(ConfigError, match="log.level.*'loud'"):
        load_config([], cwd=str(tmp_path))
    (tmp_path / "server.properties").write_text("log.level=WARN\n")
    assert load_config([], cwd=str(tmp_path))["log.level"] == "warn"
