"""How ``config.schema`` declares a key: its default, its line in the reference, whether it
is a secret and how it is spelled in the YAML. The loader's key lists, the reference's table
(``config.docs``) and the pipeline's defaults are derived from these declarations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

SECRET_SUFFIXES = ("_env", "_file", "_credential")
_SETTING = "setting"
_SECTION = "section"


@dataclass(frozen=True)
class Setting:
    """What the schema says of one key beside its type and default."""

    doc: str = ""  # the reference's words for it, after its default
    shown: str | None = None  # the default in words, when its value does not say it
    secret: bool = False  # read from <name>_env, _file or _credential, never inline
    keys: tuple[str, ...] = ()  # its YAML keys, when not the field's name
    unit: str = ""  # "bytes": shown in MiB


@dataclass(frozen=True)
class SectionInfo:
    """What the schema says of one section of the file."""

    cls: type[Any]
    note: str = ""  # said in the reference after the section's keys


def setting(default: T, doc: str = "", *, shown: str | None = None, unit: str = "") -> T:
    """A key with a plain default value."""
    return field(default=default, metadata={_SETTING: Setting(doc, shown=shown, unit=unit)})


def setting_factory(
    factory: Callable[[], T], doc: str = "", *, shown: str | None = None, keys: tuple[str, ...] = ()
) -> T:
    """A key whose default is built by ``factory`` (a mutable or computed default)."""
    meta = Setting(doc, shown=shown, keys=keys)
    return field(default_factory=factory, metadata={_SETTING: meta})


def required(doc: str = "") -> Any:
    """A key the file must give (no default)."""
    return field(metadata={_SETTING: Setting(doc, shown="required")})


def secret_setting(doc: str = "") -> Any:
    """A credential: ``<name>_env``, ``_file`` or ``_credential`` in the file; none by default."""
    return field(default=None, metadata={_SETTING: Setting(doc, shown="none", secret=True)})


def section(cls: type[T], note: str = "", *, needed: bool = False) -> T:
    """A section of the file, read into ``cls`` (``needed``: no default, e.g. storage)."""
    meta = {_SECTION: SectionInfo(cls, note)}
    if needed:
        # Keyword-only, so that a required section may follow ones with defaults.
        return field(kw_only=True, metadata=meta)  # type: ignore[no-any-return]
    return field(default_factory=cls, metadata=meta)


def secret_keys(*names: str) -> tuple[str, ...]:
    """Every key that may name the secrets ``names`` (``api_key_env``, ``api_key_file``...)."""
    return tuple(n + s for n in names for s in SECRET_SUFFIXES)


def setting_of(f: dataclasses.Field[Any]) -> Setting | None:
    """The declaration of a schema field, None for a field that is no key of the file."""
    found = f.metadata.get(_SETTING)
    return found if isinstance(found, Setting) else None


def settings(cls: type[Any]) -> list[tuple[dataclasses.Field[Any], Setting]]:
    """A section's keys, in the schema's order, each with its declaration."""
    found = []
    for f in dataclasses.fields(cls):
        meta = setting_of(f)
        if meta is not None:
            found.append((f, meta))
    return found


def sections(config_cls: type[Any]) -> dict[str, SectionInfo]:
    """The file's sections by name, in the schema's order."""
    found: dict[str, SectionInfo] = {}
    for f in dataclasses.fields(config_cls):
        info = f.metadata.get(_SECTION)
        if isinstance(info, SectionInfo):
            found[f.name] = info
    return found


def yaml_keys(f: dataclasses.Field[Any], meta: Setting) -> tuple[str, ...]:
    """The keys a schema field is read from: its name, its secret's keys or its own list."""
    if meta.secret:
        return secret_keys(f.name)
    return meta.keys or (f.name,)


def section_keys(cls: type[Any]) -> tuple[str, ...]:
    """Every key a section may hold."""
    return tuple(key for f, meta in settings(cls) for key in yaml_keys(f, meta))


def secret_names(cls: type[Any]) -> tuple[str, ...]:
    """The section's secrets, whose bare name is refused with its own message."""
    return tuple(f.name for f, meta in settings(cls) if meta.secret)


def default_of(f: dataclasses.Field[Any]) -> Any:
    """A field's default value (built afresh for a factory); MISSING when required."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default
