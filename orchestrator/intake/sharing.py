"""The inbox shared by a group: who may write manifests there and how the daemon reads them.

Under the shipped unit the daemon runs as its own user, in the operators' group
(``SupplementaryGroups=``); the inbox, ``processed/`` and ``failed/`` belong to that group
with the setgid bit, so a file placed there takes the group, and ``submit`` writes it
readable by the group alone (never by others).
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

# A manifest placed by ``submit``: its owner and the inbox's group read it, no one else.
MANIFEST_MODE = 0o640
# A problems report in a folder shared with a group: readable by the group, as the
# manifest beside it is. It names fields and paths, never the file's contents.
SHARED_REPORT_MODE = 0o640

UNREADABLE = (
    "cannot read: permission denied: the daemon reads manifests through the inbox's group; "
    "make the file readable by that group (chgrp GROUP FILE; chmod g+r FILE), as "
    "`speechkit-orchestrator submit` does when the inbox is setgid"
)


def group_name(gid: int) -> str:
    """The name of group ``gid``, or its number when it has none here."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def is_shared(folder: Path) -> bool:
    """Whether ``folder`` is set up to be shared with its group: setgid, group-writable."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & stat.S_ISGID and mode & stat.S_IWGRP)


def describe_folder(folder: Path) -> str:
    """``folder``'s group and mode as ``ls -ld`` would say them."""
    try:
        info = folder.stat()
    except OSError as exc:
        return f"{folder} ({exc.strerror or exc})"
    return f"{folder} (group {group_name(info.st_gid)}, mode {stat.S_IMODE(info.st_mode):04o})"


def cannot_write(inbox: Path, exc: OSError) -> str:
    """Why ``submit`` could not place a manifest in ``inbox``, and what to do."""
    reason = exc.strerror or type(exc).__name__
    if not isinstance(exc, PermissionError):
        return f"cannot write to the inbox {inbox}: {reason}"
    folder = inbox if inbox.exists() else inbox.parent
    try:
        group = group_name(folder.stat().st_gid)
    except OSError:
        return (
            f"cannot write to the inbox {inbox}: {reason}; submitting needs write permission "
            "there, given to the operators' group (docs/operations.md, Install)"
        )
    return (
        f"cannot write to the inbox {describe_folder(folder)}: {reason}; submitting needs "
        f"write permission there: be a member of the group {group} (sudo usermod -aG "
        f"{group} {_user()}, then log in again), or ask whoever runs the daemon"
    )


def refusal_advice(report: str, inbox: Path) -> str | None:
    """What to do about a refusal because the daemon could not read the file; None for
    other refusals."""
    if "permission denied" not in report.lower():
        return None
    shared = "" if is_shared(inbox) else " It is not: it needs the setgid bit and group write."
    return (
        "The daemon could not read the manifest placed in the inbox: it reads manifests "
        "through the inbox's group, which the files placed there take when the inbox is "
        f"setgid (chmod 2770), and which the daemon must be in (SupplementaryGroups=). The "
        f"inbox is {describe_folder(inbox)}.{shared} Mend it as docs/operations.md says "
        "(Install), then submit again."
    )


def _user() -> str:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
