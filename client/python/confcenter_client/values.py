"""The values of a resolved view and how typed getters parse them (no gRPC needed here)."""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

# confcenter.v1.ContentType numbers (types.proto); kept as plain ints so this module needs no
# generated code.
CONTENT_TYPE_UNSPECIFIED = 0
CONTENT_TYPE_TEXT = 1


@dataclass(frozen=True, slots=True)
class ConfigValue:
    """One effective value of the view."""

    value: str
    # confcenter.v1.ContentType (an int; compare with confcenter.v1.types_pb2 constants).
    content_type: int = CONTENT_TYPE_TEXT
    # The tenant of the chain whose entry won.
    source_tenant: str = ""
    # The revision at which that entry was written.
    revision: int = 0
    # Non-zero: the value of the source tenant's gray release with this id, which this
    # instance is in the audience of; 0 for released values.
    gray_release_id: int = 0


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """A change to one key of the view, as passed to callbacks."""

    service: str
    key: str
    old: Optional[ConfigValue]  # None: the key was absent
    new: Optional[ConfigValue]  # None: the key is gone
    revision: int  # the revision of the view after the change


Key = Tuple[str, str]  # (service, key)
View = Dict[Key, ConfigValue]


def diff(before: Mapping[Key, ConfigValue], after: Mapping[Key, ConfigValue],
         revision: int) -> List[ConfigChange]:
    """The changes that turn `before` into `after`, ordered by (service, key): changed keys
    (old and new value), keys that appeared, keys that are gone. Used for a resync snapshot."""
    changes = []
    for k in sorted(before.keys() | after.keys()):
        old = before.get(k)
        new = after.get(k)
        if old != new:
            changes.append(ConfigChange(k[0], k[1], old, new, revision))
    return changes


_INT = re.compile(r"\s*[-+]?[0-9]+\s*", re.ASCII)
_FLOAT = re.compile(
    r"\s*[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity|nan)\s*",
    re.ASCII | re.IGNORECASE)
_TRUE = frozenset(("true", "yes", "on", "1"))
_FALSE = frozenset(("false", "no", "off", "0"))
_DURATION_PART = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)(ns|us|ms|s|m|h)", re.ASCII)
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
            "m": 60_000_000_000, "h": 3_600_000_000_000}
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def parse_int(text: str) -> Optional[int]:
    """A signed decimal 64-bit integer (surrounding whitespace allowed), else None."""
    if not _INT.fullmatch(text):
        return None
    n = int(text)
    return n if INT64_MIN <= n <= INT64_MAX else None


def parse_float(text: str) -> Optional[float]:
    """A decimal floating point number ("1.5", "-2e3", "inf", "nan"), else None."""
    if not _FLOAT.fullmatch(text):
        return None
    return float(text)


def parse_bool(text: str) -> Optional[bool]:
    """true/false, yes/no, on/off, 1/0 in any case (surrounding whitespace allowed), else None."""
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    return None


def parse_duration_ns(text: str) -> Optional[int]:
    """A Go/absl duration as integer nanoseconds: an optional sign and one or more decimal
    numbers with a unit (ns, us, ms, s, m, h), e.g. "300ms", "1.5s", "2m", "1h30m", "-2s";
    "0" alone is zero. Else None."""
    s = text.strip()
    if not s:
        return None
    sign = 1
    if s[0] in "+-":
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    pos = 0
    total = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            return None
        number, unit = m.group(1), m.group(2)
        whole, _, frac = number.partition(".")
        scale = _UNIT_NS[unit]
        ns = int(whole or "0") * scale
        if frac:
            ns += int(frac) * scale // (10 ** len(frac))
        total += ns
        pos = m.end()
    return sign * total


def parse_duration(text: str) -> Optional[datetime.timedelta]:
    """A duration (see parse_duration_ns) as a datetime.timedelta (microsecond resolution:
    nanoseconds are truncated), else None."""
    ns = parse_duration_ns(text)
    if ns is None:
        return None
    try:
        us = datetime.timedelta(microseconds=abs(ns) // 1000)
    except OverflowError:
        return None
    return -us if ns < 0 else us


def to_timedelta(value) -> datetime.timedelta:
    """A fallback given as a timedelta or as a number of seconds, as a timedelta."""
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.timedelta(seconds=value)
    raise TypeError(f"a duration fallback must be a datetime.timedelta or seconds, not {value!r}")
