"""What a recognition API is and spends (pure): the types of the one catalogue of APIs.

Each client module of ``speechkit/`` declares its API's ``ApiSpec`` (how it is driven, what
it accepts and gives back, the quotas each call spends, its concurrency cap, what a 404
means); ``speechkit`` gathers them in one ``ApiCatalogue`` that is passed to whoever needs
it: manifest checks, lanes, ``plan``, the ETA, the status page and the metrics. Nothing
below ``speechkit/`` names an API: a fourth one is one more spec.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from orchestrator.core import constants as c
from orchestrator.core.audio import AudioFacts
from orchestrator.core.decisions import NotFoundMeans
from orchestrator.core.settings import RecognitionSettings

# Speaker labeling tells two speakers apart in one channel (the documentation's page).
SPEAKER_LABELING_MAX_CHANNELS = 1


class QuotaKind(enum.Enum):
    """How a quota's figures are counted from its limit and window."""

    # ``limit`` requests per the configured ``quotas.window_s`` (an hour by default), the
    # window lengthened by the margin that covers a request's way to the service.
    WINDOW = "window"
    # A rate over a window of a second or so: ``per_second``'s send slack stretches it.
    RATE = "rate"
    # An amount (billable seconds of audio) per day, stretched as the windows are.
    DAILY = "daily"


@dataclass(frozen=True)
class QuotaDecl:
    """One quota an API spends: its name (the ledger's and the metrics' ``quota`` label),
    an operator's title, its default figures and the config key that sets them."""

    name: str
    title: str
    kind: QuotaKind
    limit: float  # units per ``window_s`` by default
    window_s: float
    # The key under ``quotas:`` that sets it (besides ``quotas.rates.<name>``), and the
    # factor from that key's unit to the quota's (hours to seconds of audio).
    config_key: str | None = None
    config_scale: float = 1.0
    # ``plan --json``'s field for the wait this quota causes (default ``<name>_wait_s``).
    wait_field: str | None = None

    @property
    def amount(self) -> bool:
        """Counted in amounts (seconds of audio), not in requests."""
        return self.kind is QuotaKind.DAILY

    @property
    def wait_key(self) -> str:
        """``plan --json``'s field for the wait this quota causes."""
        return self.wait_field or f"{self.name}_wait_s"


@dataclass(frozen=True)
class ConcurrencyDecl:
    """A cap on an API's requests waiting for their answer at once, and its config key."""

    default: int
    config_key: str | None = None  # under ``concurrency:``, besides ``concurrency.requests``


@dataclass(frozen=True)
class ApiSpec:
    """One API: how it is driven, what it accepts and gives back, what each call spends."""

    name: str  # "v2": the value of a manifest's `api:`
    title: str
    asynchronous: bool  # an operation to poll; else the answer is the transcript
    models: tuple[str, ...]
    # Exact language codes it takes (None: any code shaped like xx-XX).
    languages: tuple[str, ...] | None
    several_languages: bool  # `auto` or a list of codes
    # Settings (by manifest key) it has no use for; a value other than the default is an error.
    unsupported: tuple[str, ...]
    submit_quota: str  # the quota a submission spends
    # The quota a status check spends; None for a synchronous API (nothing to check).
    status_quota: str | None
    # The quota a request for the result spends; None when no request is needed: the
    # finished status carries the result, or the submission's answer did.
    result_quota: str | None
    # Metric labels (``endpoint``) of each request.
    submit_endpoint: str
    status_endpoint: str | None
    result_endpoint: str | None
    # What a 404 means when checking the status, and when fetching the result.
    status_not_found: NotFoundMeans
    result_not_found: NotFoundMeans
    quotas: tuple[QuotaDecl, ...] = ()  # the declarations of every quota named here
    # The amount quota a submission charges its billable audio to (None: none).
    audio_quota: str | None = None
    uploads: bool = True  # the audio goes through object storage (else in the request)
    timings: bool = True  # word and utterance times (else no subtitles can be written)
    # The metric label of the request that deletes a result kept on the server, when the
    # API has one (``delete_result``).
    delete_endpoint: str | None = None
    max_duration_s: float = c.MAX_DURATION_S
    # Raw LPCM must be mono at one of these rates (None: any raw audio the probe reads).
    raw_pcm_rates: tuple[int, ...] | None = None
    concurrency: ConcurrencyDecl | None = None  # None: no cap of its own
    # The store's key-value key of a value made once per installation and kept (asr_xml's
    # device uuid), None when the API needs none.
    install_key: str | None = None

    @property
    def daily_audio(self) -> bool:
        """Submissions count against a daily audio quota."""
        return self.audio_quota is not None

    def spends(self) -> tuple[str, ...]:
        """The names of the quotas its calls spend, in the order of its calls."""
        named = (self.submit_quota, self.audio_quota, self.status_quota, self.result_quota)
        return tuple(dict.fromkeys(n for n in named if n is not None))


class ApiCatalogue(Mapping[str, ApiSpec]):
    """Every API the daemon drives, by name, the first being a manifest's default; and
    what is derived from them all (the quotas, deduplicated)."""

    def __init__(self, specs: Iterable[ApiSpec]) -> None:
        self._specs = {spec.name: spec for spec in specs}
        self._quotas: dict[str, QuotaDecl] = {}
        for spec in self._specs.values():
            declared = {decl.name: decl for decl in spec.quotas}
            missing = set(spec.spends()) - set(declared)
            if missing:
                raise ValueError(f"api {spec.name} spends undeclared quotas {sorted(missing)}")
            for decl in spec.quotas:
                if self._quotas.setdefault(decl.name, decl) != decl:
                    raise ValueError(f"quota {decl.name} is declared twice, differently")
        # The quotas counted in requests first, then those counted in amounts (the order
        # of the status page's rows and of ``/status``).
        ordered = sorted(self._quotas.values(), key=lambda decl: decl.amount)
        self._quotas = {decl.name: decl for decl in ordered}

    def __getitem__(self, name: str) -> ApiSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def default(self) -> ApiSpec:
        """The first API: what a manifest that names none uses."""
        return next(iter(self._specs.values()))

    def quotas(self) -> Mapping[str, QuotaDecl]:
        """Every quota any API spends, each declared once: those counted in requests in the
        order first declared, then those counted in amounts."""
        return dict(self._quotas)

    def request_quotas(self) -> tuple[str, ...]:
        """The quotas counted in requests (the 429s are counted per quota)."""
        return tuple(name for name, decl in self._quotas.items() if not decl.amount)

    def models(self) -> tuple[str, ...]:
        """Every model any API takes."""
        return tuple(dict.fromkeys(m for spec in self.values() for m in spec.models))

    def names_where(self, wanted: bool, attribute: str) -> list[str]:
        """The APIs whose boolean ``attribute`` is ``wanted``."""
        return [name for name, spec in self.items() if getattr(spec, attribute) is wanted]

    def apis_with(self, setting: str) -> list[str]:
        """The APIs that take ``setting``."""
        return [name for name, spec in self.items() if setting not in spec.unsupported]


# The default of each setting that an API may not support.
_DEFAULTS = RecognitionSettings()


def _either(names: list[str]) -> str:
    return " or ".join(names)


def setting_problems(settings: RecognitionSettings, apis: ApiCatalogue) -> list[tuple[str, str]]:
    """``(setting, message)`` for each setting the job's API cannot honour."""
    spec = apis[settings.api]
    problems: list[tuple[str, str]] = []
    for name in spec.unsupported:
        value = getattr(settings, name)
        if value != getattr(_DEFAULTS, name):
            others = _either(apis.apis_with(name))
            problems.append(
                (name, f"{name} is not available with api {spec.name}; it needs api {others}")
            )
    language = settings.language
    several = isinstance(language, tuple) or language == c.AUTO_LANGUAGE
    unknown = [code for code in settings.languages if code not in (spec.languages or (code,))]
    if several and not spec.several_languages:
        what = "a list of languages" if isinstance(language, tuple) else "language auto"
        takes = _either(apis.names_where(True, "several_languages"))
        problems.append(
            ("language", f"{what} needs api {takes}; api {spec.name} takes one language code")
        )
    elif unknown:
        listed = ", ".join(spec.languages or ())
        problems.append(
            ("language", f"api {spec.name} takes one of {listed}; got {', '.join(unknown)}")
        )
    if settings.model not in spec.models:
        problems.append(
            (
                "model",
                f"api {spec.name} takes one of {', '.join(spec.models)}; got {settings.model}",
            )
        )
    return problems


def source_problem(
    settings: RecognitionSettings, in_storage: bool, apis: ApiCatalogue
) -> str | None:
    """Why an object already in storage (``s3://``) cannot be recognised by the job's API."""
    spec = apis[settings.api]
    if in_storage and not spec.uploads:
        return (
            f"api {spec.name} sends the audio itself, so it needs a local file, not an "
            f"object in storage; use api {_either(apis.names_where(True, 'uploads'))} "
            "for s3:// objects"
        )
    return None


def audio_problems(
    settings: RecognitionSettings, audio: AudioFacts, apis: ApiCatalogue
) -> list[tuple[str, str]]:
    """``(setting, message)`` for each way the probed audio does not suit the job's API."""
    spec = apis[settings.api]
    problems: list[tuple[str, str]] = []
    if settings.speaker_labeling and audio.channels > SPEAKER_LABELING_MAX_CHANNELS:
        problems.append(
            (
                "speaker_labeling",
                f"speaker labeling works on mono audio only; this file has {audio.channels} "
                "channels (each channel is transcribed on its own anyway)",
            )
        )
    asynchronous = _either(apis.names_where(True, "asynchronous"))
    if audio.duration_s > spec.max_duration_s:
        problems.append(
            (
                "api",
                f"the audio lasts {audio.duration_s:.1f} s; {spec.title} takes clips of at "
                f"most {spec.max_duration_s:g} s: use api {asynchronous} (asynchronous) for it",
            )
        )
    if spec.raw_pcm_rates is not None and audio.container == "raw":
        problems.extend(_raw_problems(spec, audio, spec.raw_pcm_rates, asynchronous))
    return problems


def _raw_problems(
    spec: ApiSpec, audio: AudioFacts, rates: tuple[int, ...], others: str
) -> list[tuple[str, str]]:
    """Raw LPCM an API takes only mono at a few rates: its Content-Type says no more."""
    problems: list[tuple[str, str]] = []
    if audio.channels != 1:
        problems.append(
            (
                "api",
                f"raw LPCM for api {spec.name} must be mono (this one has {audio.channels} "
                f"channels): send a WAV file, or use api {others}",
            )
        )
    if audio.sample_rate not in rates:
        problems.append(
            (
                "api",
                f"raw LPCM for api {spec.name} must be {_either([str(r) for r in rates])} Hz "
                f"(this one is {audio.sample_rate} Hz): send a WAV file, or use api {others}",
            )
        )
    return problems
