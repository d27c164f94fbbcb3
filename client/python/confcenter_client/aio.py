"""The asyncio variant: the same view, callbacks, resume and cache as Subscription, with the
stream read by a task of the running event loop (grpc.aio) instead of a thread.

    from confcenter_client.aio import AsyncSubscription

    async with AsyncSubscription("127.0.0.1:7070", "feat", ["svc"]) as sub:
        await sub.wait_for_revision(0, timeout=5)
        sub.get_int("svc", "n", 8)                      # getters are plain (non-async) calls
        sub.on_change("svc", "n", on_n)                 # a function or a coroutine function

Callbacks run on the event loop, in revision order, one at a time (a coroutine callback is
awaited before the next one runs).
"""

from __future__ import annotations

import asyncio
import inspect
import random
from typing import List, Mapping, Optional, Sequence, Union

import grpc
import grpc.aio

from confcenter.v1 import watch_pb2_grpc

from .credentials import Credentials, make_aio_channel
from .subscription import Status, _log, _merge_token, _SubscriptionBase
from .values import ConfigChange


class AsyncSubscription(_SubscriptionBase):
    """Subscription for asyncio. Takes the same arguments; channel_or_address is a
    grpc.aio.Channel (yours to close) or an address (a channel made by make_aio_channel,
    closed by close()). Start it with `await sub.start()` or `async with`, stop it with
    `await sub.close()`."""

    def __init__(self, channel_or_address: Union["grpc.aio.Channel", str], tenant: str,
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
        self._address = channel_or_address if isinstance(channel_or_address, str) else None
        self._credentials = credentials
        self._channel = None if self._address is not None else channel_or_address
        self._own_channel = self._address is not None
        self._task: Optional[asyncio.Task] = None
        self._changed: Optional[asyncio.Condition] = None

    async def start(self) -> "AsyncSubscription":
        """Starts the stream task on the running loop. Never fails because the server is down."""
        if self._task is not None:
            return self
        if self._channel is None:
            self._channel = make_aio_channel(self._address, self._credentials,
                                             initial_backoff=self._initial_backoff,
                                             max_backoff=self._max_backoff)
        self._stub = watch_pb2_grpc.WatchServiceStub(self._channel)
        self._changed = asyncio.Condition()
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def close(self) -> None:
        """Stops the stream and the task: no callback runs after this returns (awaited from a
        callback, the callbacks after the running one are skipped). Idempotent."""
        with self._lock:
            self._stopping = True
            call = self._call
        if call is not None:
            call.cancel()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        if self._own_channel and self._channel is not None:
            channel, self._channel = self._channel, None
            await channel.close()

    async def __aenter__(self) -> "AsyncSubscription":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def wait_for_revision(self, revision: int, timeout: Optional[float] = None) -> bool:
        """True once the view is at `revision` or later, is not stale, and the callbacks up to
        it have run; False if `timeout` seconds pass first (None: no limit)."""
        if self._changed is None:
            raise RuntimeError("AsyncSubscription not started")

        def reached() -> bool:
            with self._lock:
                return self._notified_revision >= revision and not self._stale

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(reached), timeout)
                return True
            except asyncio.TimeoutError:
                return reached()

    async def _wake(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug: say so rather than die silently
            _log.exception("confcenter subscription task failed")
            with self._lock:
                self._stale = True
            await self._wake()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self._initial_backoff
        rng = random.Random()
        while True:
            request = self._next_request()
            if request is None:
                return
            metadata, status = self._call_metadata()
            if status is None:
                status = await self._stream(request, metadata)
                if status is None:
                    return
            wait, watch, lost = self._stream_ended(status, backoff, rng)
            await self._wake()
            if self._stopping:
                return
            deadline = loop.time() + wait
            while True:
                state = None
                if watch:
                    # After a lost connection, a new one ends the wait early.
                    state = self._channel.get_state(try_to_connect=True)
                    if state != grpc.ChannelConnectivity.READY:
                        lost = True
                    elif lost:
                        break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                if state is None:
                    await asyncio.sleep(remaining)
                else:
                    try:
                        await asyncio.wait_for(self._channel.wait_for_state_change(state),
                                               remaining)
                    except asyncio.TimeoutError:
                        break
            backoff = min(backoff * 2, self._max_backoff)

    async def _stream(self, request, metadata) -> Optional[Status]:
        call = self._stub.Subscribe(request, metadata=metadata)
        with self._lock:
            if self._stopping:
                call.cancel()
                return None
            self._call = call
        try:
            async for message in call:
                changes, restart = self._on_message(message)
                if restart:
                    call.cancel()
                    break
                await self._notify_async(changes)
                self._applied()
                await self._wake()
            code, details = await call.code(), await call.details()
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        if code == grpc.StatusCode.OK:
            return Status(grpc.StatusCode.UNAVAILABLE, "the stream ended")
        return Status(code, details or "")

    async def _notify_async(self, changes: List[ConfigChange]) -> None:
        if not changes:
            return
        with self._watchers_lock:
            watchers = list(self._watchers.items())
        for change in changes:
            for wid, w in watchers:
                if not w.matches(change) or self._stopping or wid not in self._watchers:
                    continue
                try:
                    result = w.callback(change)
                    if inspect.isawaitable(result):
                        await result
                except asyncio.CancelledError:
                    raise
                except Exception:
                    _log.exception("confcenter callback for %s/%s%s failed", w.service or "*",
                                   w.key, "*" if w.prefix else "")
