"""Profile files in the data folder: `<email>.<appName>.user`, JSON in the Java server's shape.

Owns: reading every profile at start, writing changed ones atomically, daily backups in `backup/`.
Never leaves an empty or half-written file: a save writes a temp file, fsyncs it, renames it over the
old one and fsyncs the folder. A file that does not parse is reported and left on disk untouched; the
newest backup of it is loaded instead, as upstream does (spec/storage.md §2).
"""
import json
import os
import time

from .atomicfile import write_atomically
from ..model.user import User
from ..logger import get_logger

log = get_logger("blynklite.store")

SUFFIX = ".user"
PRIVATE_FOLDER_MODE = 0o700


def make_private_folder(folder):
    """Create `folder` (0700), or take group and other access away from an existing one: a stored
    password hash is itself the app's login credential, so no other local user may read it."""
    os.makedirs(folder, mode=PRIVATE_FOLDER_MODE, exist_ok=True)
    mode = os.stat(folder).st_mode & 0o777
    if mode & 0o077:
        try:
            os.chmod(folder, mode & ~0o077)
            log.info("%s was readable by other users; now %o", folder, mode & ~0o077)
        except OSError as error:
            log.warning("%s is readable by other users and cannot be changed: %s", folder, error)


def user_file_name(email, app_name):
    """`<email>.<appName>.user`; ValueError for a name that would leave the data folder or that no
    file system takes (the handlers refuse such accounts; this keeps any that slip through inside)."""
    name = f"{email}.{app_name}{SUFFIX}"
    if "/" in name or "\\" in name or "\0" in name or name.startswith("."):
        raise ValueError(f"{name!r} cannot be a profile file name")
    return name


class ProfileStore:
    def __init__(self, data_folder):
        self.folder = data_folder
        self.backup_folder = os.path.join(data_folder, "backup")
        make_private_folder(data_folder)

    def load_all(self):
        users = []
        for name in sorted(os.listdir(self.folder)):
            path = os.path.join(self.folder, name)
            if not name.endswith(SUFFIX) or not os.path.isfile(path):
                continue
            user = self._load(path) or self._load_backup(name)
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

    def _load_backup(self, file_name):
        if not os.path.isdir(self.backup_folder):
            return None
        backups = sorted(b for b in os.listdir(self.backup_folder) if b.startswith(file_name + "."))
        for backup in reversed(backups):
            user = self._load(os.path.join(self.backup_folder, backup))
            if user is not None:
                log.warning("loaded %s from its backup %s", file_name, backup)
                return user
        return None

    def write_backup(self, email, app_name, data, day=None):
        """`backup/<email>.<appName>.user.<yyyy-MM-dd>`, written as atomically as the profile."""
        day = day or time.strftime("%Y-%m-%d")
        make_private_folder(self.backup_folder)
        name = f"{user_file_name(email, app_name)}.{day}"
        return write_atomically(os.path.join(self.backup_folder, name), data, 0o600)

    @staticmethod
    def serialize(user):
        return json.dumps(user.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def write(self, email, app_name, data):
        """Atomically replace one profile file with `data` (bytes). Safe to call from a worker."""
        path = os.path.join(self.folder, user_file_name(email, app_name))
        return write_atomically(path, data, 0o600)

    def move_to_deleted(self, email, app_name):
        """A deleted account's file goes to `deleted/`, as upstream, never straight to oblivion."""
        name = user_file_name(email, app_name)
        path = os.path.join(self.folder, name)
        if not os.path.exists(path):
            return None
        deleted = os.path.join(self.folder, "deleted")
        make_private_folder(deleted)
        target = os.path.join(deleted, name)
        os.replace(path, target)
        return target
