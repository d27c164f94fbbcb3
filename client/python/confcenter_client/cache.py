"""The cache file: the last good view with its revision and epoch, as JSON.

    {"tenant": T, "services": [S...], "revision": R, "epoch": E,
     "entries": [{"service", "key", "value", "content_type", "source_tenant", "revision",
                  "gray_release_id"}...]}

The same layout as the C++ library's, so either library may read the other's file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .values import CONTENT_TYPE_TEXT, ConfigValue, View


@dataclass
class CachedView:
    revision: int
    epoch: str
    view: View = field(default_factory=dict)


def save(path: str, tenant: str, services: Sequence[str], revision: int, epoch: str,
         view: View) -> None:
    """Writes the view to `path` atomically: a temp file beside it (mode 0600: the view may
    hold secrets), fsync, rename over it. After a crash the file is the old one or the new
    one, whole. Raises OSError on failure (the temp file is removed)."""
    doc = {
        "tenant": tenant,
        "services": list(services),
        "revision": revision,
        "epoch": epoch,
        "entries": [
            {"service": s, "key": k, "value": v.value, "content_type": v.content_type,
             "source_tenant": v.source_tenant, "gray_release_id": v.gray_release_id,
             "revision": v.revision}
            for (s, k), v in sorted(view.items())
        ],
    }
    data = (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # a leftover temp file of another mode
            view_bytes = memoryview(data)
            while view_bytes:
                n = os.write(fd, view_bytes)
                view_bytes = view_bytes[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    # The rename is durable once the directory is synced.
    try:
        dfd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(path: str, tenant: str, services: Sequence[str]) -> Optional[CachedView]:
    """The view cached in `path` if it was written for this tenant and service list, else None
    (missing, damaged, or another subscription's file: start as if there were none)."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    try:
        if not isinstance(doc, dict):
            return None
        if doc.get("tenant") != tenant or doc.get("services") != list(services):
            return None
        view: View = {}
        for e in doc.get("entries", []):
            view[(str(e["service"]), str(e["key"]))] = ConfigValue(
                value=str(e.get("value", "")),
                content_type=int(e.get("content_type", CONTENT_TYPE_TEXT)),
                source_tenant=str(e.get("source_tenant", "")),
                revision=int(e.get("revision", 0)),
                gray_release_id=int(e.get("gray_release_id", 0)),
            )
        revision = int(doc.get("revision", 0))
        epoch = str(doc.get("epoch", ""))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return CachedView(revision=revision, epoch=epoch, view=view)
