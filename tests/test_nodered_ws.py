"""node-red-contrib-blynk-ws (npm), unchanged, as a websocket device over ws:// and wss:// (spec/framing.md
§4.1). tests/nodered/flow.js loads its nodes with a small stand-in for the Node-RED runtime."""
import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from blynklite.codec.commands import Command
from devices import app_barrier, app_messages, new_account, open_app

FLOW_DIR = Path(__file__).parent / "nodered"
NODE, NPM = shutil.which("node"), shutil.which("npm")
pytestmark = pytest.mark.skipif(not (NODE and NPM), reason="node and npm are needed for node-red-contrib-blynk-ws")
WAIT = 10


@pytest.fixture(scope="module")
def node_modules():
    if not (FLOW_DIR / "node_modules" / "node-red-contrib-blynk-ws").is_dir():
        subprocess.run([NPM, "ci", "--no-audit", "--no-fund"], cwd=FLOW_DIR, check=True, timeout=300,
                       capture_output=True)
    return FLOW_DIR


class Flow:
    def __init__(self, url, token, in_pin, out_pin):
        self.events = queue.Queue()
        self.process = subprocess.Popen([NODE, "flow.js", url, token, str(in_pin), str(out_pin)], cwd=FLOW_DIR,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, env=dict(os.environ, NODE_TLS_REJECT_UNAUTHORIZED="0"))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def wait_for(self, kind):
        while True:
            try:
                event = self.events.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no {kind} event from the flow within {WAIT} s") from None
            assert event["event"] not in ("error",), event
            if event["event"] == kind:
                return event

    def tell(self, line):
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self):
        self.process.kill()
        self.process.wait(5)


@pytest.mark.parametrize("secure", [False, True], ids=["ws-8080", "wss-9443"])
def test_node_red_flow_is_a_device(server, node_modules, secure):
    email = new_account(server)
    app = open_app(server, email)
    dash_id, device_id, token = app.new_device("Node-RED")
    app_barrier(app)
    url = (f"wss://127.0.0.1:{server.app_port}/websockets" if secure
           else f"ws://127.0.0.1:{server.hw_port}/websockets")
    flow = Flow(url, token, 1, 2)
    try:
        flow.wait_for("connected")
        assert app_messages(app, Command.HARDWARE_CONNECTED, timeout=WAIT)
        app.write(dash_id, device_id, "V1", "42")
        assert flow.wait_for("write") == {"event": "write", "pin": "1", "payload": "42"}
        flow.tell("write 21.5")
        [(_, _, body)] = app_messages(app, Command.HARDWARE, timeout=WAIT)
        assert body == f"{dash_id}-{device_id}\0vw\x002\x0021.5".encode()
        flow.tell("sync")
        assert flow.wait_for("write")["payload"] == "42"
    finally:
        flow.stop()
        app.close()
