"""Synthetic transcripts: deterministic pseudo-text with real timings, for every API.

The text is made up (the emulator recognises nothing): every channel's first word is
``[emulated]``, then words drawn from a small vocabulary by a generator seeded with the audio's
content hash, so the same audio always gets the same transcript. Timings spread over the
audio's real duration. ``raw_results`` spells numbers out, ``literature_text`` adds
capitals and punctuation, ``profanity_filter`` masks the one synthetic "profane" word.
``utterances`` is the neutral form; each API module renders it in its own shape (``synthesize``
is API v2's ``chunks``).
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, replace
from typing import Any

EMULATED_MARK = "[emulated]"
PROFANE_WORDS = {"ru": "блин", "en": "damn"}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_VOCABULARY = {
    "ru": _words(
        "добрый день мы говорим о том что это было вчера и сегодня как раз надо сделать "
        "отчёт по проекту пожалуйста посмотрите документ там есть всё нужное я думаю что "
        "можно начать работу завтра утром если вы согласны тогда договорились спасибо"
    ),
    "en": _words(
        "good morning we are talking about what happened yesterday and today we need to "
        "finish the report on the project please look at the document it has everything "
        "we need I think we can start work tomorrow morning if you agree then it is settled "
        "thank you"
    ),
}
_UNITS = {
    "ru": _words("ноль один два три четыре пять шесть семь восемь девять"),
    "en": _words("zero one two three four five six seven eight nine"),
}
_TEENS = {
    "ru": _words(
        "десять одиннадцать двенадцать тринадцать четырнадцать пятнадцать шестнадцать "
        "семнадцать восемнадцать девятнадцать"
    ),
    "en": _words("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen"),
}
_TENS = {
    "ru": _words(
        "_ _ двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто"
    ),
    "en": _words("_ _ twenty thirty forty fifty sixty seventy eighty ninety"),
}

_NUMBER_RATE = 0.08
_PROFANE_RATE = 0.03
_COMMA_RATE = 0.12


@dataclass(frozen=True)
class RenderOptions:
    """The recognition settings that change the text."""

    language: str = "ru-RU"
    raw_results: bool = False
    literature_text: bool = False
    profanity_filter: bool = False


@dataclass(frozen=True)
class _Token:
    text: str
    number: int | None
    start: float
    end: float
    comma_after: bool


def spell_number(number: int, lang: str) -> list[str]:
    """The words of a number from 0 to 99 in ``lang`` ("ru" or "en")."""
    if number < 10:
        return [_UNITS[lang][number]]
    if number < 20:
        return [_TEENS[lang][number - 10]]
    tens, units = divmod(number, 10)
    return [_TENS[lang][tens]] + ([_UNITS[lang][units]] if units else [])


def duration_string(seconds: float) -> str:
    """A protobuf Duration as JSON; like the service, times pass through float32 first."""
    single = struct.unpack("f", struct.pack("f", seconds))[0]
    nanos_total = int(single * 1e9)
    whole, nanos = divmod(nanos_total, 1_000_000_000)
    if nanos == 0:
        return f"{whole}s"
    if nanos % 1_000_000 == 0:
        return f"{whole}.{nanos // 1_000_000:03d}s"
    if nanos % 1000 == 0:
        return f"{whole}.{nanos // 1000:06d}s"
    return f"{whole}.{nanos:09d}s"


def _lang(language: str) -> str:
    return "en" if language.lower().startswith("en") else "ru"


def _utterances(content_hash: str, channel: int, duration_s: float) -> list[list[_Token]]:
    rng = random.Random(f"{content_hash}:{channel}")
    vocabulary_size = len(_VOCABULARY["ru"])
    utterances: list[list[_Token]] = []
    t = min(rng.uniform(0.1, 0.6), duration_s / 4)
    while True:
        tokens: list[_Token] = []
        for _ in range(rng.randint(4, 12)):
            length = rng.uniform(0.2, 0.6)
            if t + length > duration_s:
                break
            draw = rng.random()
            number = rng.randint(0, 99) if draw < _NUMBER_RATE else None
            profane = _NUMBER_RATE <= draw < _NUMBER_RATE + _PROFANE_RATE
            text = "\0profane" if profane else str(rng.randrange(vocabulary_size))
            comma = rng.random() < _COMMA_RATE
            tokens.append(_Token(text, number, t, t + length, comma))
            t += length + rng.uniform(0.03, 0.2)
        if not tokens:
            break
        utterances.append(tokens)
        t += rng.uniform(0.4, 1.5)
    if not utterances:
        # Even the shortest audio says something, so a result is never silently empty.
        return [[_Token("\0mark", None, 0.0, duration_s, False)]]
    first = utterances[0][0]
    utterances[0][0] = _Token("\0mark", None, first.start, first.end, False)
    return utterances


def _word_texts(token: _Token, lang: str, options: RenderOptions) -> list[str]:
    if token.text == "\0mark":
        return [EMULATED_MARK]
    if token.number is not None:
        return spell_number(token.number, lang) if options.raw_results else [str(token.number)]
    if token.text == "\0profane":
        word = PROFANE_WORDS[lang]
        return ["*" * len(word)] if options.profanity_filter else [word]
    return [_VOCABULARY[lang][int(token.text)]]


@dataclass(frozen=True)
class Word:
    """One recognised word and its times in seconds from the start of the audio."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Utterance:
    """One utterance of one audio channel (``channel`` counts from 0)."""

    channel: int
    words: tuple[Word, ...]
    text: str

    @property
    def start(self) -> float:
        """When the first word starts."""
        return self.words[0].start

    @property
    def end(self) -> float:
        """When the last word ends."""
        return self.words[-1].end


def _render(tokens: list[_Token], channel: int, lang: str, options: RenderOptions) -> Utterance:
    words: list[Word] = []
    text_parts: list[str] = []
    for token in tokens:
        texts = _word_texts(token, lang, options)
        step = (token.end - token.start) / len(texts)
        for i, text in enumerate(texts):
            words.append(Word(text, token.start + i * step, token.start + (i + 1) * step))
        phrase = " ".join(texts)
        if options.literature_text and token.comma_after and token is not tokens[-1]:
            phrase += ","
        text_parts.append(phrase)
    if options.literature_text:
        # Capitalise the first real word (the mark stays as it is) and end the sentence.
        index = 1 if text_parts[0] == EMULATED_MARK and len(text_parts) > 1 else 0
        text_parts[index] = text_parts[index][:1].upper() + text_parts[index][1:]
        text_parts[-1] = text_parts[-1].rstrip(",") + "."
    return Utterance(channel=channel, words=tuple(words), text=" ".join(text_parts))


def utterances(
    content_hash: str, duration_s: float, channels: int, options: RenderOptions
) -> list[Utterance]:
    """Every channel's utterances, interleaved in time order as the service sends them."""
    lang = _lang(options.language)
    result = [
        _render(tokens, channel, lang, options)
        for channel in range(channels)
        # Seeded by the 1-based channel number, as transcripts always have been.
        for tokens in _utterances(content_hash, channel + 1, duration_s)
    ]
    result.sort(key=lambda utterance: (utterance.start, utterance.channel))
    return result


def _v2_words(utterance: Utterance) -> list[dict[str, Any]]:
    return [
        {
            "startTime": duration_string(word.start),
            "endTime": duration_string(word.end),
            "word": word.text,
            "confidence": 1,
        }
        for word in utterance.words
    ]


def synthesize(
    content_hash: str, duration_s: float, channels: int, options: RenderOptions
) -> list[dict[str, Any]]:
    """The v2 ``chunks`` for audio with this content hash, duration and channel count.

    The words are not the text. The v2 reference (``en/speechkit/stt/api/transcribation-api.md``,
    "Getting recognition results") says of ``words[].word``: "Recognized numbers are written
    in words (e.g., ``twelve`` instead of ``12``)", and of ``text``: "By default, numbers are
    written in figures" unless ``rawResults``. So every word here is spelt out, whatever
    ``rawResults``. That words carry no punctuation or capitals is a guess from the page's
    example (words "when", "writing"; text "when writing The Hobbit, Tolkien ...").
    """
    shown = utterances(content_hash, duration_s, channels, options)
    spoken = utterances(content_hash, duration_s, channels, replace(options, raw_results=True))
    return [
        {
            "alternatives": [
                {"words": _v2_words(said), "text": text.text, "confidence": 1},
            ],
            # v2 numbers channels from 1.
            "channelTag": str(text.channel + 1),
        }
        for text, said in zip(shown, spoken, strict=True)
    ]
