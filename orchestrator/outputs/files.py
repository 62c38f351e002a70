"""Files written so that they are always whole: atomic replacement, unique names that the
filesystem accepts, and the sweep of temporary files a killed process left behind."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import string
from pathlib import Path

# The longest file name (in bytes) Linux filesystems take; a longer one is ENAMETOOLONG.
NAME_MAX = 255
# What ``write_atomic`` and ``submit`` add around a name: ".NAME.XXXXXXXX.tmp".
TEMP_SUFFIX = ".tmp"
_TEMP_EXTRA = len(".") + len(".") + 8 + len(TEMP_SUFFIX)
# A temporary file of ours: a hidden name, tempfile's 8 random characters, ".tmp".
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")
_TEMP_CHARS = string.ascii_lowercase + string.digits + "_"

# What an operator can do about each way a write can fail.
_WRITE_ERRORS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EFBIG: "the file is larger than the filesystem or the process's file size limit allows",
    errno.EACCES: "permission denied (the directory is not writable by the daemon)",
    errno.EPERM: "operation not permitted (the directory is not writable by the daemon)",
    errno.EROFS: "the filesystem is read-only",
    errno.EIO: "an input/output error (a failing disk?)",
    errno.ENOTDIR: "a part of the path is a file where a directory should be",
    errno.ENAMETOOLONG: "the file name is too long for the filesystem",
}


def write_error(exc: OSError) -> str:
    """A write's failure as an operator reads it: what went wrong and where (never what
    was being written)."""
    what = _WRITE_ERRORS.get(exc.errno or 0) or exc.strerror or type(exc).__name__
    where = exc.filename
    if isinstance(where, str) and is_temp_file(os.path.basename(where)):
        where = os.path.dirname(where)  # the directory is what the operator must look at
    return f"{what}: {where}" if where else what


def fit_name(name: str, reserve: int = 0) -> str:
    """``name`` shortened (its stem, keeping the extension) so that ``reserve`` more bytes
    still fit in a file name; unchanged when it fits already."""
    encoded = os.fsencode(name)
    room = NAME_MAX - reserve
    if len(encoded) <= room:
        return name
    stem, suffix = os.path.splitext(name)
    suffix_bytes = os.fsencode(suffix)
    if len(suffix_bytes) > room // 2:
        suffix_bytes = b""
    keep = os.fsencode(stem)[: max(1, room - len(suffix_bytes))]
    # A multibyte character cut in half becomes a surrogate escape: still a valid name.
    return os.fsdecode(keep + suffix_bytes)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: str) -> None:
    """Replace ``path`` with ``data`` (UTF-8) so that it is always either old or new.

    Writes a temporary file in the same directory, fsyncs it, renames it over the target
    and fsyncs the directory so the rename survives a power cut. Creates parent dirs. A new
    file takes the process's umask (systemd's ``UMask=0077`` keeps it the daemon's); a
    file replaced keeps its mode. On any failure (a full disk, say) the temporary file is
    removed, the target is left as it was, and the OSError names ``path``; a process killed
    meanwhile leaves the temporary file for :func:`remove_temp_files`.
    """
    payload = data.encode("utf-8")
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        try:
            mode: int | None = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = None
        fd, tmp = create_temp(directory, path.name)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _naming(exc, path) from None
        raise
    _fsync_dir(directory)


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` naming ``path`` when it names no file: a write's ENOSPC names none, and an
    operator must know where the disk is full."""
    if exc.filename is None:
        exc.filename = str(path)
    return exc


def create_temp(directory: Path, name: str) -> tuple[int, Path]:
    """A new temporary file for ``name`` in ``directory``, created with mode 0666 less the
    umask (``tempfile.mkstemp`` would force 0600), opened for writing."""
    prefix = temp_prefix(name)
    for _ in range(100):
        suffix = "".join(secrets.choice(_TEMP_CHARS) for _ in range(8))
        tmp = directory / f"{prefix}{suffix}{TEMP_SUFFIX}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(directory))


def temp_prefix(name: str) -> str:
    """The prefix of a temporary file for ``name`` (``tempfile.mkstemp(prefix=...)``) that
    :func:`remove_temp_files` recognises, the whole name within ``NAME_MAX``."""
    return f".{fit_name(name, _TEMP_EXTRA)}."


def unique_destination(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem.N.suffix`` when that name is taken (names shortened
    so that the number still fits)."""
    name = fit_name(name, reserve=8)
    target = folder / name
    stem, suffix = os.path.splitext(name)
    number = 1
    while target.exists():
        target = folder / f"{stem}.{number}{suffix}"
        number += 1
    return target


def is_temp_file(name: str) -> bool:
    """Whether ``name`` is that of a temporary file ``write_atomic`` or ``submit`` makes."""
    return bool(_TEMP_NAME.fullmatch(name))


def remove_temp_files(
    directory: Path, *, recursive: bool, older_than: float | None = None
) -> list[Path]:
    """Remove our temporary files under ``directory`` (those modified before ``older_than``,
    a Unix time, when given); the paths removed. Errors on single files are skipped."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    walk = os.walk(directory) if recursive else [(str(directory), [], os.listdir(directory))]
    for folder, _dirs, names in walk:
        for name in names:
            if not is_temp_file(name):
                continue
            path = Path(folder) / name
            try:
                info = path.lstat()
                if older_than is not None and info.st_mtime >= older_than:
                    continue
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed
