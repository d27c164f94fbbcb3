#!/usr/bin/python3
"""The conformance adapter of the Python client library (docs/clients.md, "The conformance
adapter protocol"): a Subscription driven by commands read from a file, reporting its
callbacks, its state and its answers as JSON lines on stdout.

    PYTHONPATH=BUILD_DIR/python:client/python /usr/bin/python3 client/python/conformance_adapter.py \
        --address 127.0.0.1:PORT --tenant feat --service svc --service dep \
        --cache-file FILE --commands FILE
"""

import argparse
import datetime
import json
import logging
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from confcenter_client import ConfigChange, Subscription, make_channel  # noqa: E402

BACKOFF_INITIAL = 0.05
BACKOFF_MAX = 1.0
_US = datetime.timedelta(microseconds=1)


class LineWriter:
    """One JSON object per line on stdout, flushed; shared by the callback, state and command
    threads."""

    def __init__(self):
        self._lock = threading.Lock()

    def write(self, obj) -> None:
        line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


def value_json(value):
    if value is None:
        return None
    return {"value": value.value, "source_tenant": value.source_tenant}


def answer(sub: Subscription, command) -> tuple:
    """The reply to one command, and whether it is quit."""
    if not isinstance(command, dict):
        return {"type": "reply", "id": 0, "error": "not a JSON object"}, False
    cmd = command.get("cmd", "")
    reply = {"type": "reply", "id": command.get("id", 0)}
    service = command.get("service", "")
    key = command.get("key", "")
    try:
        if cmd == "get":
            value = sub.get(service, key)
            reply["found"] = value is not None
            if value is not None:
                reply["value"] = value.value
                reply["source_tenant"] = value.source_tenant
                reply["revision"] = value.revision
        elif cmd == "get_int":
            reply["value"] = sub.get_int(service, key, int(command.get("fallback", 0)))
        elif cmd == "get_bool":
            reply["value"] = sub.get_bool(service, key, bool(command.get("fallback", False)))
        elif cmd == "get_duration_ms":
            fallback = datetime.timedelta(milliseconds=int(command.get("fallback", 0)))
            us = sub.get_duration(service, key, fallback) // _US
            reply["value"] = us // 1000 if us >= 0 else -(-us // 1000)  # toward zero
        elif cmd == "endpoint":
            address = sub.endpoint(service, command.get("endpoint", ""))
            reply["found"] = address is not None
            if address is not None:
                reply["address"] = address
        elif cmd == "wait_revision":
            reply["ok"] = sub.wait_for_revision(int(command.get("revision", 0)),
                                                int(command.get("timeout_ms", 0)) / 1000.0)
        elif cmd == "snapshot":
            reply["revision"] = sub.revision
            reply["stale"] = sub.stale
            reply["entries"] = [
                {"service": s, "key": k, "value": v.value, "source_tenant": v.source_tenant}
                for (s, k), v in sorted(sub.snapshot().items())
            ]
        elif cmd == "quit":
            reply["ok"] = True
            return reply, True
        else:
            reply["error"] = f"unknown command: {cmd}"
    except (TypeError, ValueError) as e:
        reply = {"type": "reply", "id": command.get("id", 0), "error": f"bad command: {e}"}
    return reply, False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--service", action="append", required=True)
    parser.add_argument("--cache-file", required=True)
    parser.add_argument("--commands", required=True)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    out = LineWriter()
    channel = make_channel(args.address, initial_backoff=BACKOFF_INITIAL,
                           max_backoff=BACKOFF_MAX)
    sub = Subscription(channel, args.tenant, args.service, cache_file=args.cache_file,
                       initial_backoff=BACKOFF_INITIAL, max_backoff=BACKOFF_MAX)

    def report(tag):
        def callback(change: ConfigChange) -> None:
            out.write({"type": "change", "callback": tag, "service": change.service,
                       "key": change.key, "old": value_json(change.old),
                       "new": value_json(change.new), "revision": change.revision})
        return callback

    sub.on_change(args.service[0], "watched", report("key"))
    sub.on_change("", "p.", report("prefix"), prefix=True)

    quit_event = threading.Event()

    def state_loop() -> None:
        last = None
        while not quit_event.is_set():
            state = (sub.revision, sub.stale)
            if state != last:
                out.write({"type": "state", "revision": state[0], "stale": state[1]})
                last = state
            quit_event.wait(0.01)

    state_thread = threading.Thread(target=state_loop, name="state", daemon=True)
    state_thread.start()

    # Commands: complete lines appended to the file, answered in order, until "quit".
    pending = b""
    offset = 0
    stop = False
    while not stop:
        try:
            with open(args.commands, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        pending += chunk
        while not stop and b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                command = json.loads(line.decode("utf-8"))
            except ValueError:
                out.write({"type": "reply", "id": 0,
                           "error": "not JSON: " + line.decode("utf-8", "replace")})
                continue
            reply, stop = answer(sub, command)
            out.write(reply)
        if not stop:
            time.sleep(0.01)
    quit_event.set()
    state_thread.join()
    sub.close()  # no callback runs after this
    channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
