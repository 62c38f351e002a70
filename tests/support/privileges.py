"""Running the daemon as file modes bind it, even when the tests run as root.

Root ignores a directory's modes (CAP_DAC_OVERRIDE), so ``chmod 555`` alone would not make
a directory read-only for a daemon run by root, as in CI. ``setpriv`` drops those
capabilities from the bounding set before it runs the command: root stays root (it owns
the test's files and may write them) but obeys the modes of a directory like anyone else.
"""

from __future__ import annotations

import os
import shutil

import pytest

DROPPED = "-dac_override,-dac_read_search,-fowner"


def obeying_file_modes() -> list[str]:
    """The prefix that runs a command bound by file modes ([] when not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:  # util-linux is in every Debian; its absence is the machine's
        pytest.skip("running as root without setpriv: a read-only directory cannot be made")
    return [setpriv, f"--bounding-set={DROPPED}", "--"]
