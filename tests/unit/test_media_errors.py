"""The media layer's errors: one line naming the file, and intact across a process's pipe."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from orchestrator.media.errors import MediaCrash, MediaError, MediaTimeout


@pytest.mark.parametrize("kind", [MediaError, MediaTimeout, MediaCrash])
def test_an_error_names_the_file_and_survives_pickling(kind: type[MediaError]) -> None:
    error = kind(Path("calls/a.wav"), "is truncated")
    assert str(error) == "calls/a.wav: is truncated"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is kind
    assert (str(copy), copy.path, copy.message) == (str(error), "calls/a.wav", "is truncated")
