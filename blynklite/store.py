"""Profile files in the data folder: `<email>.<appName>.user`, JSON in the Java server's shape.

Owns: reading every profile at start, writing changed ones atomically. Never leaves an empty or
half-written file: a save writes a temp file, fsyncs it, renames it over the old one and fsyncs the
folder. A file that does not parse is reported and skipped, never overwritten, so nothing is lost.
"""
import json
import logging
import os

from .model.user import User

log = logging.getLogger("blynklite.store")

SUFFIX = ".user"


def user_file_name(email, app_name):
    return f"{email}.{app_name}{SUFFIX}"


class ProfileStore:
    def __init__(self, data_folder):
        self.folder = data_folder
        os.makedirs(data_folder, exist_ok=True)

    def load_all(self):
        users = []
        for name in sorted(os.listdir(self.folder)):
            path = os.path.join(self.folder, name)
            if not name.endswith(SUFFIX) or not os.path.isfile(path):
                continue
            user = self._load(path)
            if user is not None:
                users.append(user)
        return users

    def _load(self, path):
        try:
            with open(path, "rb") as f:
                return User.from_json(json.loads(f.read()))
        except (OSError, ValueError, TypeError, AttributeError) as error:
            log.error("cannot load profile %s: %s; the file is left untouched", path, error)
            return None

    @staticmethod
    def serialize(user):
        return json.dumps(user.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def write(self, email, app_name, data):
        """Atomically replace one profile file with `data` (bytes). Safe to call from a worker."""
        path = os.path.join(self.folder, user_file_name(email, app_name))
        temp = f"{path}.{os.getpid()}.tmp"
        try:
            with open(temp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, path)
        except BaseException:
            _remove_quietly(temp)
            raise
        _fsync_folder(self.folder)
        return path


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
