"""Run a Python module with every file it opens or lists recorded, one JSON line each.

    python -m tests.support.watch_files LOG orchestrator run --config config.yaml ...

The record comes from the interpreter's audit hooks (``open``, ``os.listdir``,
``os.scandir``): what the process asked of the filesystem, seen from inside, not guessed
from its output. C libraries that open files themselves (SQLite) are not seen.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _record(out: Any, lock: threading.Lock, event: str, details: tuple[Any, ...]) -> None:
    if event == "open":
        target, mode, flags = details
        kind = "write" if (mode and set(str(mode)) & set("wax+")) else "read"
        if isinstance(flags, int) and flags & _WRITE_FLAGS:
            kind = "write"
    elif event in ("os.listdir", "os.scandir"):
        target, kind = details[0], "list"
    else:
        return
    if target is None or isinstance(target, int):
        return  # a file descriptor: its opening was recorded
    path = os.path.abspath(os.fsdecode(os.fspath(target)))
    line = json.dumps({"path": path, "kind": kind}) + "\n"
    with lock:
        out.write(line)
        out.flush()


def main() -> None:
    """Install the hook, then run the module as ``python -m`` would."""
    log_path, module, *args = sys.argv[1:]
    out = open(log_path, "a", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
    lock = threading.Lock()
    sys.addaudithook(lambda event, details: _record(out, lock, event, details))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
