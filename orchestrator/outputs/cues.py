"""The utterance's text laid on its words' times (pure), for subtitles that read as the .txt.

The words an API times are not always the text it writes: v2's ``words[].word`` spells
numbers out and has no punctuation ("вчера раз добрый пятьдесят пять"), while ``text`` has
digits and, with ``literature_text``, capitals and punctuation ("Вчера раз добрый, 55.").
Like whisper's subtitles, which show a segment's text at its words' times, each token of
the text (split at spaces) takes the times of the words it matches; tokens that match no
word one to one ("55") share the span of the words between their matched neighbours
("пятьдесят пять") in proportion to their length.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

from orchestrator.core.transcript import Utterance, Word


def _clean(text: str) -> str:
    return " ".join(text.split())


def _key(token: str) -> str:
    """What a text token and a word are compared by: letters and digits, lower case."""
    return "".join(ch for ch in token.casefold() if ch.isalnum())


def _share(tokens: Sequence[str], start: float, end: float) -> list[Word]:
    """``tokens`` spread over ``start``..``end`` in proportion to their length."""
    total = sum(len(t) + 1 for t in tokens)
    span = max(0.0, end - start)
    shared: list[Word] = []
    offset = 0
    for token in tokens:
        begin = start + span * offset / total
        offset += len(token) + 1
        shared.append(Word(token, begin, start + span * offset / total))
    return shared


def _real_words(utterance: Utterance) -> list[Word]:
    real = []
    for word in utterance.words:
        text = _clean(word.text)
        if text:
            real.append(word if text == word.text else word._replace(text=text))
    return real


def _aligned(tokens: list[str], words: list[Word]) -> list[Word]:
    """Each text token with the times of the words it stands for."""
    matcher = SequenceMatcher(
        None, [_key(t) for t in tokens], [_key(w.text) for w in words], autojunk=False
    )
    timed: list[Word] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs = zip(tokens[i1:i2], words[j1:j2], strict=True)
            timed.extend(word._replace(text=token) for token, word in pairs)
        elif i2 > i1 and j2 > j1:
            timed.extend(_share(tokens[i1:i2], words[j1].start, words[j2 - 1].end))
        elif i2 > i1:
            # Tokens no word stands for (a dash): a moment between their neighbours.
            at = timed[-1].end if timed else words[j1].start if j1 < len(words) else 0.0
            timed.extend(Word(t, at, at) for t in tokens[i1:i2])
        # Words the text does not show (j2 > j1, i1 == i2) lend their time to no token.
    return timed


def timed_tokens(utterance: Utterance) -> list[Word]:
    """The utterance's text as words with times, for cues.

    The text's tokens aligned to the words' times; the words themselves when there is no
    text; without word times, the text's tokens spread over the utterance's span in
    proportion to their length, which keeps a long utterance splittable into cues.
    """
    words = _real_words(utterance)
    tokens = [t for t in _clean(utterance.text).split(" ") if t]
    if not tokens:
        return words
    if not words:
        return _share(tokens, utterance.start, utterance.end)
    return _aligned(tokens, words)
