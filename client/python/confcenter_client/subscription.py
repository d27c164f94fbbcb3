"""A process's live view of its configuration (WatchService.Subscribe).

    from confcenter_client import Subscription

    with Subscription("127.0.0.1:7070", "feature-login", ["login"],
                      cache_file="/var/cache/login/config.json") as sub:
        pool = sub.get_int("login", "db.pool.size", 8)
        sub.on_change("login", "db.", lambda change: print(change), prefix=True)
        ...

The subscription keeps a thread-safe local copy of the resolved view of (tenant, services),
calls back on changes, reconnects with back-off and resumes from the last revision it applied
(nothing lost, nothing twice), and keeps the last good view in a cache file to start from
when the server cannot be reached. The contract it keeps is docs/clients.md.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import grpc
from google.protobuf import timestamp_pb2

from confcenter.v1 import instances_pb2, watch_pb2, watch_pb2_grpc

from . import cache as _cache
from .credentials import Credentials, TokenError, TokenSource, make_channel
from .values import (ConfigChange, ConfigValue, Key, View, diff, parse_bool, parse_duration,
                     parse_float, parse_int, to_timedelta)

__version__ = "0.1.0"
LIBRARY = f"confcenter-python/{__version__}"

_log = logging.getLogger("confcenter_client")

Callback = Callable[[ConfigChange], None]

# Errors that retrying soon will not fix: kept as last_error and retried at max_backoff (a
# tenant may be registered later, a token file may appear, a grant may be added).
_SLOW_CODES = frozenset((grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT,
                         grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED))
_PROCESS_START = time.time()


@dataclass(frozen=True)
class Status:
    """The outcome of a stream attempt (Subscription.last_error)."""

    code: grpc.StatusCode
    details: str = ""

    def __str__(self) -> str:
        return f"{self.code.name}: {self.details}" if self.details else self.code.name


@dataclass
class _Watcher:
    service: str
    key: str
    prefix: bool
    callback: Callback

    def matches(self, change: ConfigChange) -> bool:
        if self.service and self.service != change.service:
            return False
        return change.key.startswith(self.key) if self.prefix else change.key == self.key


def _is_connect_failure(status: Status) -> bool:
    """The call got no connection (nothing of it was sent)."""
    if status.code != grpc.StatusCode.UNAVAILABLE:
        return False
    return status.details.startswith(("failed to connect to all addresses",
                                      "DNS resolution failed", "empty address list"))


def _default_instance_id() -> str:
    base = os.environ.get("POD_NAME") or socket.gethostname()
    raw = f"{base}:{os.getpid()}:{secrets.token_hex(4)}"
    # Only the id's alphabet ([A-Za-z0-9_.:-]); a host name may hold others.
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_.:-" else "-" for c in raw)[:128]


def _value_of_entry(e) -> ConfigValue:
    return ConfigValue(e.value, e.content_type, e.source_tenant, e.revision, e.gray_release_id)


def _merge_token(credentials: Optional[Credentials], token: Optional[str],
                 token_file: Optional[str]) -> Credentials:
    credentials = credentials or Credentials()
    if token is None and token_file is None:
        return credentials
    return Credentials(**{**credentials.__dict__,
                          "token": token if token is not None else credentials.token,
                          "token_file": token_file if token_file is not None
                          else credentials.token_file})


class _SubscriptionBase:
    """The view, its callbacks, the cache and how stream messages change them; shared by
    Subscription (a thread) and aio.AsyncSubscription (an asyncio task)."""

    def __init__(self, tenant: str, services: Sequence[str], cache_file: Optional[str],
                 credentials: Credentials, user: Optional[str], initial_backoff: float,
                 max_backoff: float, instance: bool, instance_id: Optional[str],
                 instance_service: Optional[str], labels: Optional[Mapping[str, str]]):
        if not tenant:
            raise ValueError("tenant: required")
        if isinstance(services, str):
            raise TypeError("services: a sequence of service names, not a string")
        if initial_backoff <= 0 or max_backoff < initial_backoff:
            raise ValueError("backoff: need 0 < initial_backoff <= max_backoff")
        self._tenant = tenant
        self._services = list(services)
        self._cache_file = cache_file or None
        self._user = user or ""
        self._initial_backoff = float(initial_backoff)
        self._max_backoff = float(max_backoff)
        self._token = TokenSource(credentials)
        self._instance_info: Optional[instances_pb2.InstanceInfo] = None
        if instance:
            info = instances_pb2.InstanceInfo(
                instance_id=instance_id or _default_instance_id(),
                host=socket.gethostname(),
                service=instance_service or (self._services[0] if self._services else ""),
                pod=os.environ.get("POD_NAME", ""),
                namespace=os.environ.get("POD_NAMESPACE", ""),
                library=LIBRARY,
                labels=dict(labels or {}),
                start_time=timestamp_pb2.Timestamp(seconds=int(_PROCESS_START),
                                                   nanos=int(_PROCESS_START % 1 * 1e9)))
            self._instance_info = info

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._view: View = {}
        self._incoming: View = {}  # snapshot parts received so far on this stream
        self._revision = 0
        self._epoch = ""
        self._restart_with_snapshot = False  # the stream spoke of another epoch than the view
        self._notified_revision = 0  # callbacks have run up to here
        self._has_view = False  # a snapshot or the cache was applied
        self._stale = True
        self._caught_up = False  # this stream delivered a snapshot or caught-up progress
        self._stopping = False
        self._last_error: Optional[Status] = None
        self._call = None  # the stream to cancel on close
        self._conn_state: Optional[grpc.ChannelConnectivity] = None

        self._watchers_lock = threading.Lock()
        self._watchers: Dict[int, _Watcher] = {}
        self._next_watcher = 1

        self._load_cache()

    # ---- reading the view ----

    @property
    def tenant(self) -> str:
        return self._tenant

    @property
    def services(self) -> List[str]:
        return list(self._services)

    @property
    def instance_id(self) -> str:
        return self._instance_info.instance_id if self._instance_info is not None else ""

    @property
    def revision(self) -> int:
        """The revision the view reflects (0 before any)."""
        with self._lock:
            return self._revision

    @property
    def epoch(self) -> str:
        """The store epoch of `revision` ("" until the server has said)."""
        with self._lock:
            return self._epoch

    @property
    def stale(self) -> bool:
        """True while the view is not known to be current: served from the cache, the stream
        is down, or a resumed stream is still replaying."""
        with self._lock:
            return self._stale

    @property
    def last_error(self) -> Optional[Status]:
        """The outcome of the last failed stream attempt; None while the stream delivers."""
        with self._lock:
            return self._last_error

    def get(self, service: str, key: str) -> Optional[ConfigValue]:
        """The current value of (service, key) with its content type, source tenant, entry
        revision and gray release id; None if absent."""
        with self._lock:
            return self._view.get((service, key))

    def __contains__(self, service_key: Key) -> bool:
        with self._lock:
            return tuple(service_key) in self._view

    def get_str(self, service: str, key: str, fallback: str = "") -> str:
        v = self.get(service, key)
        return v.value if v is not None else fallback

    def get_int(self, service: str, key: str, fallback: int = 0) -> int:
        """A signed decimal 64-bit integer, else `fallback`."""
        v = self.get(service, key)
        n = parse_int(v.value) if v is not None else None
        return fallback if n is None else n

    def get_float(self, service: str, key: str, fallback: float = 0.0) -> float:
        v = self.get(service, key)
        x = parse_float(v.value) if v is not None else None
        return fallback if x is None else x

    def get_bool(self, service: str, key: str, fallback: bool = False) -> bool:
        """true/false, yes/no, on/off, 1/0 (any case), else `fallback`."""
        v = self.get(service, key)
        b = parse_bool(v.value) if v is not None else None
        return fallback if b is None else b

    def get_duration(self, service: str, key: str,
                     fallback: Union[datetime.timedelta, float, int] = datetime.timedelta(0)
                     ) -> datetime.timedelta:
        """A duration such as "300ms", "1.5s", "2m", "1h30m" (units ns, us, ms, s, m, h) as a
        datetime.timedelta; else `fallback`, given as a timedelta or a number of seconds
        (returned as a timedelta). See get_duration_seconds for a float."""
        v = self.get(service, key)
        d = parse_duration(v.value) if v is not None else None
        return to_timedelta(fallback) if d is None else d

    def get_duration_seconds(self, service: str, key: str, fallback: float = 0.0) -> float:
        """get_duration as a number of seconds (float); `fallback` in seconds."""
        v = self.get(service, key)
        d = parse_duration(v.value) if v is not None else None
        return float(fallback) if d is None else d.total_seconds()

    def get_json(self, service: str, key: str, fallback=None):
        """The value parsed as JSON (dict, list, str, number, bool or None), or `fallback` if
        absent or not valid JSON."""
        v = self.get(service, key)
        if v is None:
            return fallback
        try:
            return json.loads(v.value)
        except ValueError:
            return fallback

    def endpoint(self, service: str, name: str) -> Optional[str]:
        """Where `service`'s endpoint `name` (e.g. "grpc") is, as routed in this tenant's view
        (the reserved key `_endpoint.<name>` of the nearest tenant that registered the
        service); None if the view has none. on_change(service, "_endpoint.", cb, prefix=True)
        hears it move."""
        v = self.get(service, "_endpoint." + name)
        return v.value if v is not None else None

    def snapshot(self) -> Dict[Key, ConfigValue]:
        """A copy of the whole view: {(service, key): ConfigValue}."""
        with self._lock:
            return dict(self._view)

    # ---- callbacks ----

    def on_change(self, service: str, key: str, callback: Callback, *,
                  prefix: bool = False) -> int:
        """Calls callback(ConfigChange) for every change of `key` of `service` (prefix=True:
        every key starting with `key`; service "" matches every service). Calls run on the
        subscription's thread, in revision order, without locks held (they may read the view
        and add or remove callbacks). A resync is reported as its differences. Returns an id
        for remove_callback."""
        with self._watchers_lock:
            wid = self._next_watcher
            self._next_watcher += 1
            self._watchers[wid] = _Watcher(service, key, prefix, callback)
            return wid

    def remove_callback(self, callback_id: int) -> None:
        """No call of it starts after this returns (a call running on the subscription's thread
        may still finish)."""
        with self._watchers_lock:
            self._watchers.pop(callback_id, None)

    # ---- the stream, shared steps ----

    def _next_request(self) -> Optional[watch_pb2.SubscribeRequest]:
        """The request of the next attempt (a resume once there is a view); None if stopping."""
        request = watch_pb2.SubscribeRequest(tenant=self._tenant, services=self._services)
        if self._instance_info is not None:
            request.instance.CopyFrom(self._instance_info)
        with self._lock:
            if self._stopping:
                return None
            if self._has_view and not self._restart_with_snapshot:
                # Resume: nothing missed, or a resync if the store was restored since.
                request.start_revision = self._revision
                request.epoch = self._epoch
            self._restart_with_snapshot = False
            self._incoming = {}
            self._caught_up = False
        return request

    def _call_metadata(self) -> Tuple[List[Tuple[str, str]], Optional[Status]]:
        """The metadata of a call, or the status that fails the attempt without one."""
        try:
            metadata = self._token.metadata()
        except TokenError as e:
            # Without the token, no call: the attempt fails as the server would fail it.
            return [], Status(grpc.StatusCode.UNAUTHENTICATED, str(e))
        if self._user:
            metadata.append(("x-confcenter-user", self._user))
        return metadata, None

    def _on_message(self, message) -> Tuple[List[ConfigChange], bool]:
        """Applies a message and saves the cache; the changes to call back for (the caller
        runs _notify, then _applied), and whether the stream must restart with a snapshot."""
        changes, new_epoch = self._apply(message)
        with self._lock:
            if self._restart_with_snapshot:
                return [], True
        if changes or new_epoch:
            self._save_cache()
        return changes, False

    def _applied(self) -> None:
        """The callbacks of the last message have run: waiters may go on."""
        with self._lock:
            self._notified_revision = self._revision
            self._cond.notify_all()

    def _stream_ended(self, status: Status, backoff: float, rng: random.Random
                      ) -> Tuple[float, bool, bool]:
        """Records a finished attempt: (the wait before the next one, whether a reconnect of
        the channel may end it early, whether the connection is known lost)."""
        with self._lock:
            self._call = None
            self._stale = True
            self._last_error = status
            self._cond.notify_all()
        slow = status.code in _SLOW_CODES
        wait = (self._max_backoff if slow else backoff) * rng.uniform(0.5, 1.0)
        _log.debug("confcenter stream ended (%s); retrying in %.3f s", status, wait)
        watch = not slow and status.code == grpc.StatusCode.UNAVAILABLE
        return wait, watch, _is_connect_failure(status)

    def _apply(self, message) -> Tuple[List[ConfigChange], bool]:
        """Applies one message; the changes for callbacks, and whether it moved the view to
        another epoch."""
        changes: List[ConfigChange] = []
        new_epoch = False
        kind = message.kind
        with self._lock:
            if message.epoch and message.epoch != self._epoch:
                if kind == watch_pb2.SUBSCRIBE_RESPONSE_KIND_PROGRESS and self._epoch:
                    # Progress of another history than the view's: start again from a
                    # snapshot (the server resyncs a resume of another epoch itself; this
                    # guards against one that did not).
                    self._restart_with_snapshot = True
                    return changes, False
                if kind == watch_pb2.SUBSCRIBE_RESPONSE_KIND_PROGRESS or message.snapshot_last:
                    self._epoch = message.epoch
                    new_epoch = True
            if kind == watch_pb2.SUBSCRIBE_RESPONSE_KIND_SNAPSHOT:
                incoming = self._incoming
                for e in message.entries:
                    incoming[(e.service, e.key)] = _value_of_entry(e)
                if not message.snapshot_last:
                    return changes, new_epoch
                changes = diff(self._view, incoming, message.revision)
                self._view = incoming
                self._incoming = {}
                self._revision = message.revision
                self._has_view = True
                self._caught_up = True
            elif kind == watch_pb2.SUBSCRIBE_RESPONSE_KIND_EVENTS:
                view = self._view
                rev = message.revision
                for e in message.events:
                    k = (e.service, e.key)
                    old = view.get(k)
                    if e.type == watch_pb2.WatchEvent.TYPE_PUT:
                        new = ConfigValue(e.value, e.content_type, e.source_tenant,
                                          e.entry_revision, e.gray_release_id)
                        view[k] = new
                    else:
                        new = None
                        view.pop(k, None)
                    changes.append(ConfigChange(e.service, e.key, old, new, rev))
                self._revision = rev
                self._has_view = True
            elif kind == watch_pb2.SUBSCRIBE_RESPONSE_KIND_PROGRESS:
                self._revision = max(self._revision, message.revision)
                if not self._has_view:
                    return changes, new_epoch  # progress before any view says nothing of it
                self._caught_up = True  # a resumed stream has replayed everything: live
            else:
                return changes, False
            self._stale = not self._caught_up
            self._last_error = None
            self._cond.notify_all()
        return changes, new_epoch

    def _notify(self, changes: List[ConfigChange]) -> None:
        if not changes:
            return
        with self._watchers_lock:
            watchers = list(self._watchers.items())
        if not watchers:
            return
        for change in changes:
            for wid, w in watchers:
                if not w.matches(change):
                    continue
                if self._stopping or wid not in self._watchers:
                    continue
                try:
                    w.callback(change)
                except Exception:
                    _log.exception("confcenter callback for %s/%s%s failed", w.service or "*",
                                   w.key, "*" if w.prefix else "")

    # ---- the cache file ----

    def _load_cache(self) -> None:
        if not self._cache_file:
            return
        cached = _cache.load(self._cache_file, self._tenant, self._services)
        if cached is None:
            return
        with self._lock:
            self._view = cached.view
            self._revision = cached.revision
            self._epoch = cached.epoch
            self._has_view = True
            self._stale = True

    def _save_cache(self) -> None:
        if not self._cache_file:
            return
        with self._lock:
            if not self._has_view:
                return  # a revision without its view is no resume point
            view = dict(self._view)
            revision, epoch = self._revision, self._epoch
        try:
            _cache.save(self._cache_file, self._tenant, self._services, revision, epoch, view)
        except OSError as e:
            _log.warning("confcenter cache %s not written: %s", self._cache_file, e)


class Subscription(_SubscriptionBase):
    """Follows the resolved view of `tenant` for `services` (empty: every service), on a
    background thread.

    channel_or_address: a grpc.Channel (yours: close() leaves it open), or an address
        ("127.0.0.1:7070") for which a channel is made with make_channel(address,
        credentials) (closed by close()).
    cache_file: where the last good view is kept (see docs/clients.md, "Cache"); None = none.
    credentials: Credentials (TLS is used only when the channel is made here; the token is
        sent on every stream). token / token_file override the credentials' ones.
    user: sent as x-confcenter-user.
    initial_backoff, max_backoff: reconnect back-off in seconds (doubling, each wait cut by
        up to 50% at random). Defaults 0.1 and 10.
    instance: name this process on the stream (listed by `confctl instances`);
        instance_id (default host:pid:random), instance_service (default the first
        service) and labels describe it.

    Starting never fails because the server is down: the thread keeps retrying, serving the
    cache meanwhile. Use as a context manager, or call close().
    """

    def __init__(self, channel_or_address: Union[grpc.Channel, str], tenant: str,
                 services: Sequence[str] = (), cache_file: Optional[str] = None, *,
                 credentials: Optional[Credentials] = None, token: Optional[str] = None,
                 token_file: Optional[str] = None, user: Optional[str] = None,
                 initial_backoff: float = 0.1, max_backoff: float = 10.0,
                 instance: bool = True, instance_id: Optional[str] = None,
                 instance_service: Optional[str] = None,
                 labels: Optional[Mapping[str, str]] = None):
        credentials = _merge_token(credentials, token, token_file)
        super().__init__(tenant, services, cache_file, credentials, user, initial_backoff,
                         max_backoff, instance, instance_id, instance_service, labels)
        if isinstance(channel_or_address, str):
            self._channel = make_channel(channel_or_address, credentials,
                                         initial_backoff=initial_backoff,
                                         max_backoff=max_backoff)
            self._own_channel = True
        else:
            self._channel = channel_or_address
            self._own_channel = False
        self._stub = watch_pb2_grpc.WatchServiceStub(self._channel)
        self._conn_state: Optional[grpc.ChannelConnectivity] = None
        # Tracks the channel's state (a reconnect ends the back-off early) and keeps it
        # connecting while the stream is down.
        self._channel.subscribe(self._on_connectivity, try_to_connect=True)
        self._thread = threading.Thread(target=self._run, name=f"confcenter-sub-{tenant}",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stops the stream and joins the thread: no callback runs after this returns (called
        from a callback, the callbacks after the running one are skipped). Idempotent."""
        with self._lock:
            already = self._stopping
            self._stopping = True
            call = self._call
            self._cond.notify_all()
        if call is not None:
            call.cancel()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        if already:
            return
        try:
            self._channel.unsubscribe(self._on_connectivity)
        except (ValueError, KeyError):
            pass
        if self._own_channel:
            self._channel.close()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def wait_for_revision(self, revision: int, timeout: Optional[float] = None) -> bool:
        """True once the view is at `revision` or later, is not stale, and the callbacks up to
        it have run; False if `timeout` seconds pass first (None: no limit)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._notified_revision >= revision and not self._stale, timeout)

    def _on_connectivity(self, state: grpc.ChannelConnectivity) -> None:
        with self._lock:
            self._conn_state = state
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # a bug: say so rather than die silently
            _log.exception("confcenter subscription thread failed")
            with self._lock:
                self._stale = True
                self._cond.notify_all()

    def _loop(self) -> None:
        backoff = self._initial_backoff
        rng = random.Random()
        while True:
            request = self._next_request()
            if request is None:
                return
            metadata, status = self._call_metadata()
            if status is None:
                status = self._stream(request, metadata)
                if status is None:
                    return  # stopping
            wait, watch, lost = self._stream_ended(status, backoff, rng)
            with self._lock:
                deadline = time.monotonic() + wait
                while not self._stopping:
                    if watch:
                        # After a lost connection, a new one ends the wait early.
                        if self._conn_state != grpc.ChannelConnectivity.READY:
                            lost = True
                        elif lost:
                            break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if self._stopping:
                    return
            backoff = min(backoff * 2, self._max_backoff)

    def _stream(self, request, metadata) -> Optional[Status]:
        """Runs one stream to its end; its final status (None if stopping)."""
        call = self._stub.Subscribe(request, metadata=metadata)
        with self._lock:
            if self._stopping:
                call.cancel()
                return None
            self._call = call
        try:
            for message in call:
                changes, restart = self._on_message(message)
                if restart:
                    call.cancel()
                    break
                self._notify(changes)
                self._applied()
            code, details = call.code(), call.details()
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        if code == grpc.StatusCode.OK:
            return Status(grpc.StatusCode.UNAVAILABLE, "the stream ended")
        return Status(code, details or "")
