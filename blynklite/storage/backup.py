"""`python3 -m blynklite backup FILE` and `restore FILE`: the data folder as one .tar.gz archive.

What it owns: copying every file of the data folder (profiles, their daily backups, history, the
self-signed certificate and key) into an archive while the server may be running, and unpacking one
into a stopped server's data folder.

What it never does: talk to the server or change the data folder while archiving; restore never
overwrites a folder that holds files unless `--force` says so.

Invariant: the archive holds no half-written file, and neither does a restored folder.
- The server writes profiles and certificates whole: a temp file, fsync, rename over the old name
  (atomicfile.py). A file is archived from one open handle, so what is read is the version that was
  in place when it was opened, even if a newer one is renamed over the name while it is being read.
  Temp files (`.<name>.<pid>-<n>.tmp`) are skipped: they are unfinished or about to be renamed.
- A file that disappears between listing the folder and opening it (a profile moved to deleted/, a
  temp file renamed) is left out; one created after the listing is not in this archive.
- History files grow by whole records appended in one write each: they are copied up to their size
  when opened, cut to whole records (a torn last record, which readers ignore anyway, is dropped).
- The archive is written to a temp file next to FILE and renamed at the end; restore unpacks into a
  temp folder inside the data folder and moves the entries in only when every member was read.
"""
import errno
import os
import shutil
import socket
import stat as stat_module
import sys
import tarfile

ROOT = "blynklite-data"  # every member's name starts with this folder: `tar tzf` shows what it is
TEMP_SUFFIX = ".tmp"     # atomicfile.py's temp files and ours
# Appended record files: (name prefix, suffix) → record size. History files are 16-byte (float64, int64)
# records (history/files.py); a copy is cut to whole records. Other .bin files (firmware in ota/, the
# *_temp.bin files) are copied as they are.
RECORD_SIZES = {("history_", ".bin"): 16}
FILE_MODE, FOLDER_MODE = 0o600, 0o700  # profiles hold password hashes and tokens: owner only
RUNNING_PROBE_TIMEOUT = 0.5  # s to wait for a connection to the server's port before restore


class BackupError(Exception):
    """A backup or restore cannot be done; the message names the file or folder and what to do."""


# -- backup --------------------------------------------------------------------------------------

def write_backup(data_folder, archive_path):
    """Archive `data_folder` into `archive_path`; returns (files, bytes) archived."""
    data_folder = os.path.abspath(data_folder)
    archive_path = os.path.abspath(archive_path)
    if not os.path.isdir(data_folder):
        raise BackupError(f"data folder {data_folder} does not exist: give -dataFolder or -serverConfig "
                          f"as the server is started")
    if (archive_path + os.sep).startswith(data_folder + os.sep):
        raise BackupError(f"{archive_path} is inside the data folder {data_folder}: write the backup "
                          f"elsewhere")
    temp = f"{archive_path}.{os.getpid()}{TEMP_SUFFIX}"
    try:
        with tarfile.open(temp, "w:gz") as archive:
            counts = _archive_folder(archive, data_folder)
        os.replace(temp, archive_path)
    except OSError as error:
        _remove(temp)
        raise BackupError(f"cannot write {archive_path}: {error.strerror or error}") from None
    except BaseException:
        _remove(temp)
        raise
    return counts


def _archive_folder(archive, data_folder):
    files = size = 0
    for folder, subfolders, names in os.walk(data_folder):
        subfolders.sort()
        for name in sorted(names):
            if _is_temp(name):
                continue
            path = os.path.join(folder, name)
            data, stat = _read_whole(path)
            if data is None:
                continue
            info = tarfile.TarInfo(_member_name(data_folder, path))
            info.size, info.mtime, info.mode = len(data), int(stat.st_mtime), FILE_MODE
            archive.addfile(info, _BytesReader(data))
            files, size = files + 1, size + len(data)
    return files, size


def _read_whole(path):
    """(bytes, stat) of the file as it was when opened, or (None, None) if it is gone or not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except (FileNotFoundError, NotADirectoryError):
        return None, None  # renamed or deleted since the listing
    except OSError as error:
        if error.errno == errno.ELOOP:
            return None, None  # a symbolic link: not ours, not followed
        raise
    with os.fdopen(fd, "rb") as f:
        stat = os.fstat(f.fileno())
        if not _is_regular(stat):
            return None, None
        data = f.read(stat.st_size)
    record = _record_size(os.path.basename(path))
    if record:
        data = data[:len(data) - len(data) % record]
    return data, stat


def _record_size(name):
    return next((size for (prefix, suffix), size in RECORD_SIZES.items()
                 if name.startswith(prefix) and name.endswith(suffix)), None)


def _is_regular(stat):
    return stat_module.S_ISREG(stat.st_mode)


def _member_name(data_folder, path):
    return "/".join([ROOT, *os.path.relpath(path, data_folder).split(os.sep)])


def _is_temp(name):
    return name.endswith(TEMP_SUFFIX)


class _BytesReader:
    """The file object tarfile.addfile reads a member's bytes from."""

    def __init__(self, data):
        self._view, self._offset = memoryview(data), 0

    def read(self, size=-1):
        end = len(self._view) if size is None or size < 0 else self._offset + size
        chunk = bytes(self._view[self._offset:end])
        self._offset += len(chunk)
        return chunk


# -- restore -------------------------------------------------------------------------------------

def restore_backup(archive_path, data_folder, force=False):
    """Unpack `archive_path` into `data_folder`; returns the number of files restored. A folder that
    holds files is replaced only with `force` (its old contents are removed)."""
    data_folder = os.path.abspath(data_folder)
    members = _read_archive(archive_path)
    if os.path.exists(data_folder) and not os.path.isdir(data_folder):
        raise BackupError(f"data folder {data_folder} is a file, not a folder")
    os.makedirs(data_folder, mode=FOLDER_MODE, exist_ok=True)
    existing = [name for name in os.listdir(data_folder) if not _is_temp(name)]
    if existing and not force:
        raise BackupError(f"data folder {data_folder} is not empty ({len(existing)} entries): restore into "
                          f"an empty folder, or add --force to replace what is there")
    staging = os.path.join(data_folder, f".restore-{os.getpid()}{TEMP_SUFFIX}")
    try:
        _unpack(members, staging)
        for name in existing:
            _remove(os.path.join(data_folder, name))
        for name in os.listdir(staging):
            os.replace(os.path.join(staging, name), os.path.join(data_folder, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return len(members)


def _read_archive(archive_path):
    """[(relative path parts, bytes, mtime)] of every file in the archive, checked before anything is
    written: only regular files and folders under ROOT/, no absolute or `..` paths."""
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            return [m for m in (_checked_member(archive, member) for member in archive) if m]
    except FileNotFoundError:
        raise BackupError(f"{archive_path}: no such file") from None
    except (tarfile.TarError, EOFError, OSError) as error:
        raise BackupError(f"{archive_path} is not a blynklite backup (a .tar.gz made by "
                          f"`python3 -m blynklite backup`): {error}") from None


def _checked_member(archive, member):
    parts = member.name.split("/")
    if parts[0] != ROOT or any(p in ("", ".", "..") for p in parts[1:]) or member.name.startswith("/"):
        raise BackupError(f"unexpected member {member.name!r}: not a blynklite backup")
    if member.isdir():
        return None
    if not member.isfile():
        raise BackupError(f"member {member.name!r} is not a regular file: not a blynklite backup")
    return parts[1:], archive.extractfile(member).read(), member.mtime


def _unpack(members, staging):
    os.makedirs(staging, mode=FOLDER_MODE)
    for parts, data, mtime in members:
        path = os.path.join(staging, *parts)
        os.makedirs(os.path.dirname(path), mode=FOLDER_MODE, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.utime(path, (mtime, mtime))


def _remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass


# -- command line --------------------------------------------------------------------------------

EXAMPLES = {
    "backup": """\
examples:
  python3 -m blynklite backup blynk-$(date +%F).tar.gz -dataFolder ./data
  sudo -u blynklite /opt/blynklite/.venv/bin/python -m blynklite backup /tmp/blynk.tar.gz \\
      -dataFolder /var/lib/blynklite

The server may keep running: every file is copied whole, as it was when opened.""",
    "restore": """\
examples:
  python3 -m blynklite restore blynk-2026-12-01.tar.gz -dataFolder ./data
  python3 -m blynklite restore blynk-2026-12-01.tar.gz -dataFolder ./data --force

Stop the server first. A data folder that holds files is replaced only with --force.""",
}


def command_line(name, argv, data_folder_of, fail):
    """Run `backup` or `restore` with `argv`; `data_folder_of(config)` is the server's own rule for
    the data folder and `fail(error)` prints an error line and returns the exit status."""
    from ..config import ConfigError, load_config
    archive = data_folder = None
    try:
        archive, force, server_options = _split_arguments(name, argv)
        config = load_config(server_options)
        data_folder = os.path.abspath(data_folder_of(config))
        if name == "backup":
            files, size = write_backup(data_folder, archive)
            print(f"backup: {files} files, {size / 1024:.1f} kB from {data_folder} in {archive}")
        else:
            _refuse_if_running(config)
            files = restore_backup(archive, data_folder, force)
            print(f"restore: {files} files from {archive} in {data_folder}")
    except (BackupError, ConfigError) as error:
        return fail(error)
    except OSError as error:
        return fail(f"{name}: {error.filename or archive or data_folder}: {error.strerror or error}")
    return 0


def _split_arguments(name, argv):
    """(FILE, --force given, the server's own options): those are read as the server reads them, so
    `-dataFolder` and `-serverConfig` find the same folder (argparse would take -hardPort for -h)."""
    from ..config import VALUE_OPTIONS
    archive, force, server_options = None, False, []
    args = iter(argv)
    for arg in args:
        if arg in ("-h", "--help"):
            sys.stdout.write(_help(name))
            raise SystemExit(0)
        if arg == "--force" and name == "restore":
            force = True
        elif arg in VALUE_OPTIONS:
            server_options += [arg, next(args, "")]
        elif arg.startswith("-") and arg != "-":
            server_options.append(arg)      # load_config names an unknown option
        elif archive is None:
            archive = arg
        else:
            raise BackupError(f"{name}: one FILE only, got {archive!r} and {arg!r} (see --help)")
    if archive is None:
        raise BackupError(f"{name}: FILE is missing: python3 -m blynklite {name} FILE (see --help)")
    return archive, force, server_options


def _help(name):
    what = ("Write the data folder (profiles, their daily backups, history, the certificate and key) to\n"
            "FILE, a .tar.gz." if name == "backup" else
            "Put a backup FILE back into a stopped server's data folder.")
    force = "  --force              replace the contents of a data folder that is not empty (default: refuse)\n"
    return (f"usage: python3 -m blynklite {name} FILE{' [--force]' if name == 'restore' else ''} [-dataFolder PATH]"
            f" [-serverConfig PATH]\n\n{what}\n\n"
            f"  -dataFolder PATH     the data folder (default: data.folder of the server.properties in use,\n"
            f"                       else $STATE_DIRECTORY, else ~/.local/share/blynklite, as the server)\n"
            f"  -serverConfig PATH   server.properties to read data.folder and http.port from\n"
            f"{force if name == 'restore' else ''}\n{EXAMPLES[name]}\n")


def _refuse_if_running(config):
    """A server listening on this configuration's plain port is using the folder: refuse."""
    port = config["http.port"]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=RUNNING_PROBE_TIMEOUT):
            pass
    except OSError:
        return
    raise BackupError(f"a server answers on port {port} (http.port): stop it before restoring "
                      f"(sudo systemctl stop blynklite)")

