"""Hypothesis strategies for hostile input: manifests, configs and audio of any shape.

Documents come in four kinds: YAML of a manifest's (or config's) shape with random values
(so the checks deep inside are reached), the same with its bytes damaged, plain random
bytes, and a few pathological shapes (deep nesting, many aliases, huge keys). Paths lean
towards what an attacker would name: system files, links out of the input roots, ``..``,
globs of the whole disk, names longer than a filesystem takes.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

# What a hostile manifest would name; relative ones resolve against the test's audio.
SENSITIVE_PATHS = (
    "/etc/passwd",
    "/etc/shadow",
    "/proc/self/environ",
    "/dev/zero",
    "/dev/urandom",
    "~/.ssh/id_rsa",
    "../private/secret.raw",
    "../../../../../../etc/passwd",
    "link-out.raw",
    "/",
    "/etc/*",
    "/etc/**/*.conf",
    "**/*",
    "../private/",
)
# Names inside the allowed tree (see ``tests/unit/test_fuzz_manifest.py``'s tree).
ALLOWED_PATHS = ("a.ogg", "b.wav", "calls/", "calls/*.ogg", "**/*.wav", "raw.pcm", "missing.ogg")
MANIFEST_KEYS = ("name", "base_dir", "defaults", "jobs")
JOB_KEYS = (
    "audio",
    "output",
    "include",
    "language",
    "model",
    "encoding",
    "sample_rate",
    "channels",
    "api",
    "priority",
    "profanity_filter",
)

# Text without surrogates (YAML files are UTF-8) but with every control character.
_chars = st.characters(exclude_categories=["Cs"])
short_text = st.text(_chars, max_size=30)
long_text = st.text(st.sampled_from("ab/.*?[]\x00\n~"), min_size=256, max_size=5000)
paths = st.one_of(
    st.sampled_from(SENSITIVE_PATHS),
    st.sampled_from(ALLOWED_PATHS),
    st.lists(st.sampled_from(["..", ".", "calls", "*", "**", "a.ogg", "x" * 300, "\x00", ""])).map(
        "/".join
    ),
    short_text,
    long_text,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    short_text,
    paths,
    st.sampled_from(["LINEAR16_PCM", "OGG_OPUS", "MP3", "ru-RU", "auto", "v2", "v3", 16000, 8000]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(JOB_KEYS), short_text), children, max_size=4),
    ),
    max_leaves=20,
)
jobs = st.one_of(
    paths,
    st.fixed_dictionaries(
        {"audio": paths}, optional={key: values for key in JOB_KEYS if key != "audio"}
    ).map(dict),
    values,
)
manifests = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["m", "calls-2024", "..", ""]), scalars),
        "base_dir": st.one_of(st.sampled_from([".", "..", "/", "/etc", "calls"]), paths),
        "defaults": st.one_of(
            st.dictionaries(st.sampled_from(JOB_KEYS), values, max_size=4), values
        ),
        "jobs": st.one_of(st.lists(jobs, max_size=6), values),
        "extra": values,
    },
).map(dict)
_CONFIG_KEYS = {
    "speechkit": ("api_key_env", "api_key_file", "api_key", "transcribe_url", "request_timeout_s"),
    "storage": ("bucket", "endpoint_url", "prefix", "access_key_id_env", "secret_access_key_env"),
    "paths": ("input_roots", "output", "state_file", "inbox", "failed"),
    "quotas": ("submissions", "window_s", "safety_margin"),
    "retry": ("max_attempts", "base_delay_s", "max_delay_s"),
    "polling": ("quantile", "growth", "min_interval_s", "max_interval_s"),
    "logging": ("format", "level"),
}
configs = st.fixed_dictionaries(
    {},
    optional={
        section: st.one_of(
            st.dictionaries(st.one_of(st.sampled_from(keys), short_text), values, max_size=5),
            values,
        )
        for section, keys in _CONFIG_KEYS.items()
    },
).map(dict)


def _dump(document: Any) -> bytes:
    """YAML of a document (control characters come out escaped, as YAML requires)."""
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False).encode("utf-8")


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with bytes inserted, replaced, cut or truncated."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(buffer)))
        kind = draw(st.sampled_from(["insert", "replace", "cut", "truncate"]))
        if kind == "insert":
            buffer[at:at] = draw(
                st.one_of(
                    st.sampled_from([b"\x00", b"\x01", b"\xff\xfe", b"\t", b": [", b"*a", b"&a "]),
                    st.binary(max_size=8),
                )
            )
        elif kind == "replace" and at < len(buffer):
            buffer[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del buffer[at : at + draw(st.integers(1, 16))]
        else:
            del buffer[at:]
    return bytes(buffer)


def pathological() -> st.SearchStrategy[bytes]:
    """Shapes that break parsers: deep nesting, alias bombs, huge keys and scalars."""
    return st.one_of(
        st.integers(50, 3000).map(lambda n: b"jobs: " + b"[" * n + b"]" * n + b"\n"),
        st.integers(50, 3000).map(lambda n: b"name: m\njobs:\n" + b"  - {a: " * n + b"}" * n),
        st.just(
            b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
            b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nname: m\njobs: *c\n"
        ),
        st.integers(1000, 100_000).map(lambda n: b"name: m\n" + b"k" * n + b": 1\njobs: [a]\n"),
        st.integers(1000, 100_000).map(lambda n: b"name: m\njobs:\n  - audio: " + b"a/" * n),
        st.just(b"name: m\njobs:\n  - audio: a.ogg\n    priority: !!int nope\n"),
        st.just(b"\xef\xbb\xbfname: m\njobs: [a.ogg]\n"),  # a UTF-8 byte order mark
    )


def _encoded(data: bytes, encoding: str) -> bytes:
    """UTF-8 bytes re-encoded (a manifest saved by an editor set to another encoding)."""
    return data.decode("utf-8").encode(encoding, errors="replace")


def documents(shape: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """Bytes of a YAML file: ``shape`` dumped (in UTF-8 or another encoding), damaged,
    pathological, or random."""
    dumped = shape.map(_dump)
    encodings = st.sampled_from(["utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1251"])
    return st.one_of(
        dumped,
        st.tuples(dumped, encodings).map(lambda pair: _encoded(*pair)),
        dumped.flatmap(damaged),
        pathological(),
        st.binary(max_size=512),
    )
