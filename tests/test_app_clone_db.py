"""Clone codes with `enable.db` against a real PostgreSQL cluster: GET_CLONE_CODE and HTTP /{token}/qr store
the project in upstream's `cloned_projects` table (no file), GET_PROJECT_BY_CLONE_CODE and HTTP /{code}/clone
read it there and fall back to the clone folder for codes stored as files, as upstream; a code in neither is
upstream's server error."""
import json
import urllib.error
import urllib.request
import zlib

import pytest

from blynklite.client import AppClient
from devices import PASSWORD, WAIT, new_account

pytest.importorskip("psycopg2")

from postgres_support import db_properties  # noqa: E402
from postgres_support import cluster  # noqa: E402,F401  (a PostgreSQL cluster with the schema)
from test_notifications import start_server  # noqa: E402

OK, SERVER_ERROR = 200, 19
CREATE_DASH, GET_CLONE_CODE, GET_PROJECT_BY_CLONE_CODE = 21, 62, 63
BUTTON = {"type": "BUTTON", "id": 1, "x": 0, "y": 0, "width": 1, "height": 1, "label": "pump", "pin": 1,
          "pinType": "VIRTUAL"}


def clones(cluster):
    return {token: json.loads(text) for token, text in
            cluster.query("SELECT token, json FROM cloned_projects", dbname="blynk")}


def http_get(server, path):
    try:
        with urllib.request.urlopen(f"http://{server.host}:{server.hw_port}{path}", timeout=WAIT) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_clone_codes_live_in_the_database_and_files_are_the_fallback(tmp_path, cluster):  # noqa: F811
    server = start_server(tmp_path, {"db.properties": db_properties(cluster)}, **{"enable.db": "true"})
    try:
        with AppClient(server.host, server.app_port, timeout=WAIT) as app:
            assert app.login(new_account(server), PASSWORD) == OK
            project = {"id": 1, "name": "Pump house", "widgets": [BUTTON]}
            assert app.request(CREATE_DASH, json.dumps(project))[2] == OK
            _, _, token = app.new_device("d", dash_id=1)
            command, _, code = app.request(GET_CLONE_CODE, "1")
            assert command == GET_CLONE_CODE
            code = code.decode()
            stored = clones(cluster)
            assert stored[code]["name"] == "Pump house"
            assert not (server.data_dir / "clone").exists()                 # the database, not a file
            command, _, body = app.request(GET_PROJECT_BY_CLONE_CODE, code)
            assert command == GET_PROJECT_BY_CLONE_CODE
            assert json.loads(zlib.decompress(body))["name"] == "Pump house"
            status, text = http_get(server, f"/{code}/clone")
            assert status == 200 and json.loads(text)["name"] == "Pump house"

            cluster.query("INSERT INTO cloned_projects (token, ts, json) VALUES (%s, now(), %s)",
                          ("D" * 32, json.dumps({"id": 7, "name": "from the table"})), dbname="blynk")
            assert json.loads(zlib.decompress(app.request(GET_PROJECT_BY_CLONE_CODE, "D" * 32)[2]))["name"] \
                == "from the table"
            (server.data_dir / "clone").mkdir()
            (server.data_dir / "clone" / ("F" * 32)).write_text(json.dumps({"id": 8, "name": "from a file"}))
            assert json.loads(zlib.decompress(app.request(GET_PROJECT_BY_CLONE_CODE, "F" * 32)[2]))["name"] \
                == "from a file"
            assert http_get(server, f"/{'F' * 32}/clone")[0] == 200
            assert app.request(GET_PROJECT_BY_CLONE_CODE, "Z" * 32)[2] == SERVER_ERROR
            assert http_get(server, f"/{'Z' * 32}/clone") == (500, b"Requested QR not found.")

            assert http_get(server, f"/{token}/qr")[0] == 200
            assert len(clones(cluster)) == len(stored) + 2                # the QR's clone went to the table too
            assert sorted(p.name for p in (server.data_dir / "clone").iterdir()) == ["F" * 32]
    finally:
        server.stop()
