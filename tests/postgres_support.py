"""A throwaway PostgreSQL cluster for tests: `initdb` in a temp folder, `postgres` on a free loopback
port, stopped and removed afterwards. As root it runs as the `postgres` (or `nobody`) user, because
PostgreSQL refuses to run as root. Skips, saying why, when the server binaries are missing."""
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import free_ports

START_WAIT = 30.0


def find_bin():
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(folder, "initdb")):
            return folder
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def run_as():
    """The user to run the cluster as: ourselves, or postgres/nobody when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("running as root and no postgres/nobody user to run PostgreSQL as")


class Cluster:
    host = "127.0.0.1"

    def __init__(self):
        self.bin = find_bin()
        if self.bin is None:
            pytest.skip("PostgreSQL server binaries (initdb) not installed; .ci/run installs them")
        self.user = run_as()
        self.folder = tempfile.mkdtemp(prefix="blynklite-pg-")
        self.data = os.path.join(self.folder, "data")
        if self.user is not None:
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self.port = free_ports(1)[0]
        self.process = None

    def _command(self, program, *args):
        command = [os.path.join(self.bin, program), *args]
        return ["runuser", "-u", self.user.pw_name, "--", *command] if self.user is not None else command

    def start(self):
        subprocess.run(self._command("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                                     "--no-sync"), check=True, capture_output=True, timeout=120)
        self.process = subprocess.Popen(
            self._command("postgres", "-D", self.data, "-p", str(self.port), "-h", self.host, "-k", self.folder,
                          "-F", "-c", "max_connections=20", "-c", "shared_buffers=16MB"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        import psycopg2
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            try:
                psycopg2.connect(**self.args()).close()
                return self
            except psycopg2.OperationalError:
                if self.process.poll() is not None:
                    raise RuntimeError("postgres exited: " + self.process.stderr.read().decode(errors="replace"))
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("postgres did not accept connections in time")

    def args(self, dbname="postgres", user="postgres", password=None):
        return {"host": self.host, "port": self.port, "dbname": dbname, "user": user, "password": password,
                "connect_timeout": 5}

    def query(self, sql, params=(), dbname="blynk_reporting"):
        import psycopg2
        conn = psycopg2.connect(**self.args(dbname))
        try:
            with conn, conn.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall() if cursor.description else None
        finally:
            conn.close()

    def pause(self):
        """Stop the server (fast) so that writes fail; `resume` starts it again on the same port."""
        subprocess.run(self._command("pg_ctl", "-D", self.data, "stop", "-m", "fast", "-w"),
                       capture_output=True, timeout=60)
        self.process.wait(timeout=30)

    def resume(self):
        self.process = None
        subprocess.run(self._command("pg_ctl", "-D", self.data, "-o",
                                     f"-p {self.port} -h {self.host} -k {self.folder} -F", "start", "-w",
                                     "-l", os.path.join(self.folder, "log")), check=True, capture_output=True,
                       timeout=60)

    def stop(self):
        subprocess.run(self._command("pg_ctl", "-D", self.data, "stop", "-m", "immediate", "-w"),
                       capture_output=True, timeout=60)
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def db_properties(cluster):
    url = f"jdbc:postgresql://{cluster.host}:{cluster.port}"
    return {"jdbc.url": f"{url}/blynk", "user": "test", "password": "test",
            "reporting.jdbc.url": f"{url}/blynk_reporting", "reporting.user": "test", "reporting.password": "test",
            "connection.timeout.millis": 5000, "reporting.connection.timeout.millis": 5000}


@pytest.fixture(scope="module")
def cluster():
    """A throwaway cluster with upstream's schemas, made by the server's own create-schema command."""
    running = Cluster().start()
    done = subprocess.run([sys.executable, "-m", "blynklite.storage.postgres", "create-schema", "--host",
                           running.host, "--port", str(running.port), "--user", "postgres"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    yield running
    running.stop()
