"""The output names a manifest's jobs take, and whether a new one would overwrite another's
files: the same output, a channel's or the conversation's text of another
(``c`` stereo writes ``c.ch1.txt``, as a job named ``c.ch1`` does), the manifest's
report, or a file of one that another needs as a directory (``a.json`` beside
``a.json/b``). Judged on names only, whatever formats and channels the audio turns out
to have, so that validate can say it before anything is sent (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orchestrator.core.output_options import FORMATS
from orchestrator.intake.settings import MAX_CHANNELS

REPORT = "report"  # the manifest's report.json and report.txt, beside its results
_REPORT_FILES = frozenset({f"{REPORT}.json", f"{REPORT}.txt"})
# A name after the output's that one of its text files takes: ``<output>.<suffix>.txt``.
_CHANNEL_RE = re.compile(r"ch\d+")
_PLAIN_KEYS = frozenset(fmt for fmt in FORMATS if fmt != "conversation")
_CHANNEL_KEYS = frozenset(f"ch{n}.txt" for n in range(1, MAX_CHANNELS + 1))


@dataclass(frozen=True)
class Taken:
    """One output taken: the manifest line and source of its job, its channel names."""

    line: int | None
    source: str
    names: tuple[str, ...] = ()

    def suffixes(self) -> frozenset[str]:
        """The names between the output and ``.txt`` its text files may take."""
        return frozenset({"conversation", *self.names})

    def files(self) -> frozenset[str]:
        """Every ``<output>.<key>`` file it may write."""
        named = {f"{suffix}.txt" for suffix in self.suffixes()}
        return _PLAIN_KEYS | _CHANNEL_KEYS | named


@dataclass
class OutputNames:
    """The outputs taken so far in one manifest, and the directories they need."""

    taken: dict[str, Taken] = field(default_factory=dict)
    # ``<output>.<suffix>`` -> those outputs: a later ``<output>`` may own that suffix.
    dotted: dict[str, list[str]] = field(default_factory=dict)
    dirs: dict[str, str] = field(default_factory=dict)  # directory -> an output inside

    def clash(self, output: str, names: tuple[str, ...]) -> tuple[str, str] | None:
        """The output ``output`` would overwrite (or "" for the report) and the file
        shared, or None when it is apart from every output taken."""
        if output == REPORT:
            return "", "report.json"
        if output in self.taken:
            return output, output
        found = self._as_suffix(output) or self._as_owner(output, names)
        return found or self._dirs(output, Taken(None, "", names).files())

    def take(self, output: str, taken: Taken) -> None:
        """Record ``output`` as taken (after :meth:`clash` found nothing)."""
        self.taken[output] = taken
        stem, dot, _suffix = output.rpartition(".")
        if dot and "/" not in _suffix:
            self.dotted.setdefault(stem, []).append(output)
        parts = output.split("/")
        for depth in range(1, len(parts)):
            self.dirs.setdefault("/".join(parts[:depth]), output)

    def _as_suffix(self, output: str) -> tuple[str, str] | None:
        """``c.ch1`` when ``c`` is taken: c's text of channel 1 is ``c.ch1.txt``."""
        stem, dot, suffix = output.rpartition(".")
        owner = self.taken.get(stem) if dot and "/" not in suffix else None
        if owner is not None and (_CHANNEL_RE.fullmatch(suffix) or suffix in owner.suffixes()):
            return stem, f"{output}.txt"
        return None

    def _as_owner(self, output: str, names: tuple[str, ...]) -> tuple[str, str] | None:
        """``c`` when ``c.ch1`` is taken (the same clash, found in the other order)."""
        mine = Taken(None, "", names).suffixes()
        for other in self.dotted.get(output, ()):
            suffix = other[len(output) + 1 :]
            if _CHANNEL_RE.fullmatch(suffix) or suffix in mine:
                return other, f"{other}.txt"
        return None

    def _dirs(self, output: str, keys: frozenset[str]) -> tuple[str, str] | None:
        """A directory of ``output`` that is a file of another, or the other way round."""
        parts = output.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if depth == 1 and folder in _REPORT_FILES:
                return "", folder
            for at in _dots(parts[depth - 1]):
                owner = "/".join([*parts[: depth - 1], parts[depth - 1][:at]])
                taken = self.taken.get(owner)
                if taken is not None and parts[depth - 1][at + 1 :] in taken.files():
                    return owner, folder
        for key in keys:
            inside = self.dirs.get(f"{output}.{key}")
            if inside is not None:
                return inside, f"{output}.{key}"
        return None


def _dots(name: str) -> list[int]:
    """Where the dots of ``name`` are."""
    return [i for i, ch in enumerate(name) if ch == "."]
