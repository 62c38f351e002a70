"""Language codes as the user writes them, read as the service knows them (pure).

The service reads codes case-insensitively (speechkit-api.md: ``languageCode`` is
"case-insensitive"), so ``RU-ru`` is ``ru-RU``; an underscore (``ru_RU``, the POSIX locale
form) is most likely a hyphen meant; a well-shaped code no model lists (``en-UK``) would be
refused by the service only after the upload, so it is refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.core import constants as c

# Every code some API lists: the models' languages, and asr_xml's own (uk-UK among them).
KNOWN_LANGUAGES = tuple(dict.fromkeys((*c.RECOGNITION_LANGUAGES, *c.ASR_XML_LANGUAGES)))
_BY_FOLDED = {code.casefold(): code for code in KNOWN_LANGUAGES}
_SHAPE = re.compile(r"[A-Za-z]{2,3}[-_][A-Za-z]{2}")


@dataclass(frozen=True)
class LanguageCode:
    """A code read: the service's spelling of it, or why it is refused."""

    code: str | None
    problem: str | None = None


def read_language(text: str) -> LanguageCode:
    """``text`` as a known language code in the service's case; else the problem to report
    (with a "did you mean" when the code is known but for its separator)."""
    known = _BY_FOLDED.get(text.casefold())
    if known is not None:
        return LanguageCode(known)
    if not _SHAPE.fullmatch(text):
        return LanguageCode(
            None,
            "must be a language code like ru-RU or en-US "
            "(or auto, or a list of codes, with api v3)",
        )
    hyphened = _BY_FOLDED.get(text.replace("_", "-").casefold())
    if hyphened is not None:
        return LanguageCode(None, f"{text} is not a language code: did you mean {hyphened}?")
    return LanguageCode(
        None, f"no model recognises {text}: the languages are {', '.join(KNOWN_LANGUAGES)}"
    )
