#!/usr/bin/python3
"""How long a Subscription takes to hold a large view: writes N keys (default 10,000) into a
fresh tenant with ConfigService.Txn, then measures, RUNS times, the time from the start of a
Subscription (channel made from the address) to the full snapshot applied and not stale
(wait_for_revision of the last write), and prints p50 and max in ms and the process RSS.

    PYTHONPATH=BUILD_DIR/python:client/python /usr/bin/python3 client/python/snapshot_bench.py \
        --address 127.0.0.1:7070 [--keys 10000] [--runs 5] [--value-bytes 32]

The tenant (bench-<random>, a branch of integration with TTL 1 h) is left to its TTL.
"""

import argparse
import os
import secrets
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc  # noqa: E402
from google.protobuf import duration_pb2  # noqa: E402

from confcenter.v1 import config_pb2, config_pb2_grpc, tenant_pb2, tenant_pb2_grpc  # noqa: E402
from confcenter_client import Subscription, make_channel  # noqa: E402

MAX_TXN_OPS = 128  # the server's default --max_txn_ops


def rss_kib(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--value-bytes", type=int, default=32)
    parser.add_argument("--service", default="bench")
    args = parser.parse_args()

    tenant = "bench-" + secrets.token_hex(4)
    channel = make_channel(args.address)
    tenants = tenant_pb2_grpc.TenantServiceStub(channel)
    config = config_pb2_grpc.ConfigServiceStub(channel)
    tenants.Register(tenant_pb2.RegisterRequest(
        tenant=tenant, services=[tenant_pb2.ServiceDefinition(name=args.service)],
        ttl=duration_pb2.Duration(seconds=3600)), timeout=30)
    filler = "x" * max(0, args.value_bytes - 6)
    t0 = time.monotonic()
    revision = 0
    for start in range(0, args.keys, MAX_TXN_OPS):
        ops = [config_pb2.TxnOp(type=config_pb2.TXN_OP_TYPE_PUT, tenant=tenant,
                                service=args.service, key=f"k.{i:06d}", value=f"{i:06d}{filler}")
               for i in range(start, min(args.keys, start + MAX_TXN_OPS))]
        revision = config.Txn(config_pb2.TxnRequest(ops=ops), timeout=30).revision
    write_s = time.monotonic() - t0
    channel.close()
    print(f"wrote {args.keys} keys of {args.value_bytes} B into {tenant}/{args.service} "
          f"in {write_s:.2f} s (Txn of {MAX_TXN_OPS}), last revision {revision}", flush=True)

    rss_before = rss_kib()
    times_ms = []
    rss_after = []
    for run in range(args.runs):
        t0 = time.monotonic()
        sub = Subscription(args.address, tenant, [args.service])
        ok = sub.wait_for_revision(revision, timeout=120)
        elapsed = (time.monotonic() - t0) * 1000
        size = len(sub.snapshot())
        rss_after.append(rss_kib())
        sub.close()
        if not ok or size < args.keys:
            print(f"run {run + 1}: snapshot not applied (ok={ok}, {size} keys, "
                  f"last error {sub.last_error})", file=sys.stderr)
            return 1
        times_ms.append(elapsed)
        print(f"run {run + 1}: {elapsed:.1f} ms, {size} keys, RSS {rss_after[-1] / 1024:.1f} MiB",
              flush=True)
    print(f"snapshot of {args.keys} keys: p50 {statistics.median(times_ms):.1f} ms, "
          f"max {max(times_ms):.1f} ms over {args.runs} runs; RSS before {rss_before / 1024:.1f} "
          f"MiB, after the snapshot {max(rss_after) / 1024:.1f} MiB "
          f"(peak {rss_kib('VmHWM') / 1024:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
