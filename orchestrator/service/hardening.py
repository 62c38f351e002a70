"""The daemon's own process made harder to read: its memory and environment hold the API
key and the signing secret, and the hook commands it runs are its children."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# prctl(2): PR_SET_DUMPABLE 0 makes /proc/PID/environ, /proc/PID/mem and ptrace refused to
# processes of the same user (a hook command reading /proc/$PPID/environ among them).
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def forbid_dumping() -> bool:
    """Make this process not dumpable (Linux); whether it is now. A no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return int(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False  # no libc to call: nothing else to do
