"""tools/fuzz.py stays usable: a tiny run of each phase, and the harness really counts what it exists
to find (an exception other than the codec's own, a chunking disagreement, a hang), so the tool
cannot quietly rot into one that always says OK."""
import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blynklite.codec.frames import ProtocolError

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "fuzz.py"
RUN_TIMEOUT = 180


def load_tool():
    spec = importlib.util.spec_from_file_location("blynklite_fuzz_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz = load_tool()


def run_tool(*args):
    done = subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)
    return done.returncode, done.stdout + done.stderr


def figure(output, name):
    """The value column of the table row whose figure starts with `name`."""
    match = re.search(r"^\| " + re.escape(name) + r"[^|]* \| ([^|]*) \|", output, re.MULTILINE)
    assert match, f"no row {name!r} in:\n{output}"
    return match.group(1).strip()


# Codecs the tiny run must find clean: all of them.
CLEAN_CODECS = ("hardware frames", "app frames", "app websocket", "bodies", "http", "websocket", "sniffer",
                "json text", "mqtt")


def test_a_tiny_codec_run_tries_every_codec_and_finds_nothing_unexpected():
    code, output = run_tool("--only", "codecs", "--inputs", "2000", "--seed", "7", "--codecs", ",".join(CLEAN_CODECS))
    assert code == 0, output
    assert figure(output, "codec inputs in all") == "2,000"
    for name in CLEAN_CODECS:
        assert int(figure(output, f"codec {name}:").split(";")[0].replace(",", "")) > 0, name
    assert figure(output, "codec unexpected exceptions") == "0"
    assert figure(output, "codec chunking disagreements") == "0"
    assert "seed 7" in output


def test_json_text_refuses_any_input_with_value_error():
    """Once a fuzz finding: JSON nested ~1,000 deep raised RecursionError, not ValueError."""
    code, output = run_tool("--only", "codecs", "--inputs", "3000", "--seed", "7", "--codecs", "json text")
    assert code == 0 and figure(output, "codec unexpected exceptions") == "0", output


def test_a_tiny_live_run_keeps_the_bystander_whole(tmp_path):
    """What a short run can promise every time: the bystander loses nothing and stays connected, the
    server stays up, the tool itself has no errors. (Tracebacks and the exit status are figures the
    tool reports; what a short random run finds varies.)"""
    code, output = run_tool("--only", "live", "--seconds", "6", "--connections", "2", "--seed", "11",
                            "--workdir", str(tmp_path / "server"))
    assert int(figure(output, "live inputs").replace(",", "")) > 0, output
    for direction in ("device->app", "app->device"):
        sent, delivered = figure(output, f"bystander {direction}: sent").split(" / ")
        assert int(sent.replace(",", "")) > 100 and sent == delivered, output
        assert figure(output, f"bystander {direction}: lost") == "0"
    assert figure(output, "bystander disconnects") == "0"
    assert figure(output, "server up at the end") == "True"
    assert figure(output, "live tool errors") == "0"
    assert re.search(r"server log tracebacks \| \d+ \|", output)


def test_the_same_seed_replays_the_codec_phase():
    first, second = fuzz.Findings(), fuzz.Findings()
    rows_a = fuzz.codec_phase(1400, 123, first)
    rows_b = fuzz.codec_phase(1400, 123, second)
    # (name, inputs, seconds, slowest, refused, decoded): everything but the timings must repeat
    assert [(r[0], r[1], r[4], r[5]) for r in rows_a] == [(r[0], r[1], r[4], r[5]) for r in rows_b]


def broken_decoder(pieces, rng):
    """A codec with planted bugs: a KeyError on some inputs, and results that depend on chunking."""
    data = b"".join(pieces)
    if data[:1] == b"\x14" and len(data) > 6:
        raise KeyError("planted")
    if data[:1] == b"\x00":
        raise ProtocolError("allowed")
    return [len(pieces)], None


def test_the_harness_counts_foreign_exceptions_and_chunking_disagreements_with_their_input():
    findings = fuzz.Findings()
    seeds = [bytes([0x14, 0, 1, 0, 3]) + b"abc", b"\x00\x00\x01\x00\x00", b"\x06\x00\x02\x00\x00"]
    codec = fuzz.Codec("broken", seeds, broken_decoder, ProtocolError)
    tried, *_ = fuzz.fuzz_codec(codec, 500, fuzz.random.Random(1), findings)
    assert tried == 500
    assert findings.counts["unexpected exceptions"] > 0
    [(count, size, example)] = findings.faults["unexpected exceptions"].values()   # one fault, grouped
    assert count == findings.counts["unexpected exceptions"]
    assert "KeyError" in example and "tests/test_fuzz_tool.py" in example
    assert "input b'\\x14" in example                  # the shortest input seen, as a replayable expression
    assert findings.counts["chunking disagreements"] > 0


def test_the_harness_reports_a_codec_that_hangs(monkeypatch):
    monkeypatch.setattr(fuzz, "HANG_SECONDS", 0.2)

    def stuck(pieces, rng):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            pass
        return [], None

    findings = fuzz.Findings()
    fuzz.fuzz_codec(fuzz.Codec("stuck", [b"x"], stuck, ProtocolError), 2, fuzz.random.Random(1), findings)
    assert findings.counts["hangs"] == 2


@pytest.mark.parametrize("codec", fuzz.codecs(), ids=lambda c: c.name)
def test_every_seed_is_valid_input_for_its_codec(codec):
    """Mutations start from valid messages: each seed decodes without the codec's error (one
    websocket seed is a frame over the message limit on purpose)."""
    refused = 0
    for seed in codec.seeds:
        setting = (8192, 524288) if codec.name == "http" else None
        items, error = fuzz._call(codec, [seed], fuzz.random.Random(0), setting)
        refused += error is not None
    assert refused <= 1, (codec.name, refused, len(codec.seeds))
