"""The Subscription against a real confcenterd on loopback (never a mock). Skipped unless
CONFCENTERD names the binary:

    CONFCENTERD=build/confcenterd PYTHONPATH=build/python:client/python \
        /usr/bin/python3 -m unittest tests.test_live_server   (from client/python)

Waits are bounded polling (wait_for_revision, grpc.channel_ready_future), never fixed sleeps.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

CONFCENTERD = os.environ.get("CONFCENTERD", "")

if CONFCENTERD:
    import grpc
    from google.protobuf import duration_pb2

    from confcenter.v1 import (admin_pb2, admin_pb2_grpc, config_pb2, config_pb2_grpc,
                               tenant_pb2, tenant_pb2_grpc)
    from confcenter_client import Credentials, Subscription, make_channel


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def poll(predicate, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Server:
    """confcenterd on 127.0.0.1 with its own data dir; restartable on the same port."""

    def __init__(self, data_dir, *flags):
        self.data_dir = data_dir
        self.flags = list(flags)
        self.port = 0
        self.proc = None

    def start(self):
        port_file = os.path.join(self.data_dir, "..", "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.proc = subprocess.Popen(
            [CONFCENTERD, f"--listen=127.0.0.1:{self.port}", "--http_listen=",
             "--admin_listen=127.0.0.1:0", f"--data_dir={self.data_dir}",
             f"--port_file={port_file}"] + self.flags,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert poll(lambda: read_text(port_file), 30), "confcenterd did not start"
        self.port = int(read_text(port_file))

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


class _ServerFixture(unittest.TestCase):
    """A server with integration and feat registering svc; helpers to write."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="confcenter-py-")
        self.server = Server(os.path.join(self.dir, "data"))
        self.server.start()
        self.channel = make_channel(self.server.address)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.tenants = tenant_pb2_grpc.TenantServiceStub(self.channel)
        self.config = config_pb2_grpc.ConfigServiceStub(self.channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        self.register("integration", "svc")
        self.register("feat", "svc")
        self.cache = os.path.join(self.dir, "view.json")

    def tearDown(self):
        self.channel.close()
        if self.server.proc.poll() is None:
            self.server.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def register(self, tenant, service):
        return self.tenants.Register(tenant_pb2.RegisterRequest(
            tenant=tenant, services=[tenant_pb2.ServiceDefinition(name=service)]),
            timeout=10, wait_for_ready=True).revision

    def put(self, tenant, key, value):
        return self.config.Put(config_pb2.PutRequest(tenant=tenant, service="svc", key=key,
                                                     value=value), timeout=10,
                               wait_for_ready=True).revision

    def delete(self, tenant, key):
        return self.config.Delete(config_pb2.DeleteRequest(tenant=tenant, service="svc", key=key),
                                  timeout=10).revision

    def subscribe(self, **kwargs):
        sub = Subscription(self.server.address, "feat", ["svc"], cache_file=self.cache,
                           initial_backoff=0.05, max_backoff=1.0, **kwargs)
        self.addCleanup(sub.close)
        changes = []
        lock = threading.Lock()

        def record(change):
            with lock:
                changes.append((change.key, change.old and change.old.value,
                                change.new and change.new.value, change.revision))
        sub.on_change("", "", record, prefix=True)
        return sub, changes



@unittest.skipUnless(CONFCENTERD, "set CONFCENTERD to the confcenterd binary")
class LiveServerTest(_ServerFixture):
    def test_view_getters_and_callbacks(self):
        self.put("integration", "n", "42")
        self.put("integration", "on", "Yes")
        self.put("integration", "t", "1h30m")
        self.put("integration", "j", '{"a": [1, 2]}')
        rev = self.put("feat", "n", "43")
        sub, changes = self.subscribe()
        self.assertTrue(sub.wait_for_revision(rev, 10))
        self.assertFalse(sub.stale)
        self.assertEqual(sub.get_int("svc", "n"), 43)
        self.assertEqual(sub.get("svc", "n").source_tenant, "feat")
        self.assertEqual(sub.get("svc", "on").source_tenant, "integration")
        self.assertIs(sub.get_bool("svc", "on"), True)
        self.assertEqual(sub.get_duration_seconds("svc", "t"), 5400.0)
        self.assertEqual(sub.get_json("svc", "j"), {"a": [1, 2]})
        self.assertEqual(sub.get_int("svc", "missing", 7), 7)
        self.assertEqual(sub.get_int("svc", "t", 7), 7)
        # Deleting the override falls back to integration's value; integration's write to
        # the overridden key calls nothing.
        del changes[:]
        self.put("integration", "n", "44")
        rev = self.delete("feat", "n")
        self.assertTrue(sub.wait_for_revision(rev, 10))
        self.assertEqual(changes, [("n", "43", "44", rev)])
        self.assertEqual(sub.get("svc", "n").source_tenant, "integration")
        self.assertTrue(os.path.exists(self.cache))
        self.assertEqual(os.stat(self.cache).st_mode & 0o777, 0o600)

    def test_resume_after_kill_nothing_lost_nothing_twice(self):
        rev = self.put("feat", "k0", "0")
        sub, changes = self.subscribe()
        self.assertTrue(sub.wait_for_revision(rev, 10))
        del changes[:]
        self.server.kill()
        self.assertTrue(poll(lambda: sub.stale, 10))
        self.server.start()
        revs = [self.put("feat", f"k{i % 5}", str(i)) for i in range(1, 41)]
        self.assertTrue(sub.wait_for_revision(revs[-1], 20))
        self.assertEqual([c[3] for c in changes], revs)
        self.assertEqual([c[2] for c in changes], [str(i) for i in range(1, 41)])

    def test_cache_served_stale_then_resumed_without_callbacks(self):
        rev = self.put("feat", "a", "1")
        sub, _ = self.subscribe()
        self.assertTrue(sub.wait_for_revision(rev, 10))
        sub.close()
        self.server.kill()
        sub, changes = self.subscribe()
        self.assertTrue(sub.stale)
        self.assertEqual(sub.get_str("svc", "a"), "1")
        self.assertEqual(sub.revision, rev)
        self.server.start()
        self.assertTrue(poll(lambda: not sub.stale, 20))
        self.assertEqual(changes, [])
        rev = self.put("feat", "a", "2")
        self.assertTrue(sub.wait_for_revision(rev, 10))
        self.assertEqual(changes, [("a", "1", "2", rev)])

    def test_resync_reports_the_differences(self):
        self.put("feat", "same", "s")
        self.put("feat", "changed", "old")
        rev = self.put("feat", "gone", "g")
        sub, _ = self.subscribe()
        self.assertTrue(sub.wait_for_revision(rev, 10))
        sub.close()
        self.put("feat", "changed", "new")
        self.delete("feat", "gone")
        for i in range(5):
            self.put("feat", "churn", str(i))
        self.put("feat", "churn", "s")
        rev = self.put("feat", "added", "a")
        self.admin.CompactHistory(admin_pb2.CompactHistoryRequest(
            older_than=duration_pb2.Duration(seconds=0), keep_versions=1,
            keep_change_log_revisions=1), timeout=30)
        sub, changes = self.subscribe()
        self.assertTrue(sub.wait_for_revision(rev, 10))
        self.assertEqual(sorted(c[:3] for c in changes),
                         [("added", None, "a"), ("changed", "old", "new"), ("churn", None, "s"),
                          ("gone", "g", None)])

    def test_missing_tenant_is_kept_as_last_error_and_retried(self):
        sub = Subscription(self.server.address, "later", ["svc"], initial_backoff=0.05,
                           max_backoff=0.2)
        self.addCleanup(sub.close)
        self.assertTrue(poll(lambda: sub.last_error is not None, 10))
        self.assertEqual(sub.last_error.code, grpc.StatusCode.NOT_FOUND)
        self.assertTrue(sub.stale)
        rev = self.register("later", "svc")
        self.assertTrue(sub.wait_for_revision(rev, 10))
        self.assertIsNone(sub.last_error)

    def test_close_is_prompt_and_stops_callbacks(self):
        sub, changes = self.subscribe()
        self.assertTrue(poll(lambda: not sub.stale, 10))
        t0 = time.monotonic()
        sub.close()
        self.assertLess(time.monotonic() - t0, 2.0)
        n = len(changes)
        rev = self.put("feat", "after", "x")
        sub2, _ = self.subscribe()
        self.assertTrue(sub2.wait_for_revision(rev, 10))
        self.assertEqual(len(changes), n)


@unittest.skipUnless(CONFCENTERD, "set CONFCENTERD to the confcenterd binary")
class AsyncLiveServerTest(_ServerFixture):
    """AsyncSubscription (grpc.aio): view, coroutine callbacks, resume after kill -9, close."""

    def test_async_subscription(self):
        import asyncio

        from confcenter_client.aio import AsyncSubscription

        async def scenario():
            self.put("integration", "n", "1")
            rev = self.put("feat", "p.k", "a")
            heard = []

            async def on_change(change):
                await asyncio.sleep(0)
                heard.append((change.key, change.old and change.old.value,
                              change.new and change.new.value, change.revision))

            async with AsyncSubscription(self.server.address, "feat", ["svc"],
                                         cache_file=self.cache, initial_backoff=0.05,
                                         max_backoff=1.0) as sub:
                sub.on_change("", "p.", on_change, prefix=True)
                self.assertTrue(await sub.wait_for_revision(rev, 10))
                self.assertEqual(sub.get_int("svc", "n"), 1)
                self.assertEqual(sub.get("svc", "p.k").source_tenant, "feat")
                self.assertFalse(await sub.wait_for_revision(rev + 100, 0.05))
                del heard[:]
                self.server.kill()
                self.server.start()
                revs = [self.put("feat", "p.k", str(i)) for i in range(10)]
                self.assertTrue(await sub.wait_for_revision(revs[-1], 20))
                self.assertEqual([h[3] for h in heard], revs)
                self.assertEqual([h[2] for h in heard], [str(i) for i in range(10)])
            n = len(heard)
            self.put("feat", "p.k", "after")
            return n, heard

        n, heard = asyncio.run(scenario())
        self.assertEqual(len(heard), n)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


@unittest.skipUnless(CONFCENTERD, "set CONFCENTERD to the confcenterd binary")
class CredentialsLiveTest(unittest.TestCase):
    """A bearer token from a file re-read on every reconnect, and mutual TLS."""

    TOKEN = "py-client-token-0123456789"

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="confcenter-py-auth-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        d = self.dir
        digest = subprocess.run(["sha256sum"], input=self.TOKEN.encode(), check=True,
                                capture_output=True).stdout.split()[0].decode()
        with open(os.path.join(d, "tokens.yaml"), "w") as f:
            f.write(f"tokens:\n  - {{name: ops-py, sha256: {digest}}}\n")
        with open(os.path.join(d, "policy.yaml"), "w") as f:
            f.write(f"authentication:\n  static_tokens_file: {d}/tokens.yaml\n"
                    "bindings:\n"
                    "  - subjects: [{kind: token, name: \"ops-*\"}, "
                    "{kind: certificate, name: py-client}]\n"
                    "    roles: [admin]\n    tenants: [\"*\"]\n")

    def start(self, *flags):
        server = Server(os.path.join(self.dir, "data"), f"--auth_policy={self.dir}/policy.yaml",
                        *flags)
        server.start()
        self.addCleanup(server.kill)
        return server

    def register(self, channel, token):
        tenant_pb2_grpc.TenantServiceStub(channel).Register(
            tenant_pb2.RegisterRequest(tenant="integration",
                                       services=[tenant_pb2.ServiceDefinition(name="svc")]),
            metadata=[("authorization", f"Bearer {token}")] if token else None,
            timeout=10, wait_for_ready=True)

    def test_token_file_is_read_again_on_every_reconnect(self):
        server = self.start()
        channel = make_channel(server.address)
        self.addCleanup(channel.close)
        self.register(channel, self.TOKEN)
        token_file = os.path.join(self.dir, "token")
        sub = Subscription(server.address, "integration", ["svc"], token_file=token_file,
                           initial_backoff=0.05, max_backoff=0.2)
        self.addCleanup(sub.close)
        # No file: no call, UNAUTHENTICATED naming the file.
        self.assertTrue(poll(lambda: sub.last_error is not None, 10))
        self.assertEqual(sub.last_error.code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertIn("token_file", sub.last_error.details)
        # A wrong token: the server's UNAUTHENTICATED.
        with open(token_file, "w") as f:
            f.write("wrong\n")
        self.assertTrue(poll(lambda: sub.last_error is not None
                             and "token_file" not in sub.last_error.details, 10))
        self.assertEqual(sub.last_error.code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertTrue(sub.stale)
        # The right one, picked up at the next attempt.
        with open(token_file + ".new", "w") as f:
            f.write(self.TOKEN + "\n")
        os.replace(token_file + ".new", token_file)
        self.assertTrue(poll(lambda: not sub.stale, 10), sub.last_error)
        self.assertIsNone(sub.last_error)

    def test_mutual_tls(self):
        d = self.dir
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
                "-keyout", "ca.key", "-out", "ca.crt", cwd=d)
        for name, cn, ext in (("server", "localhost",
                               "subjectAltName = IP:127.0.0.1, DNS:localhost\n"),
                              ("client", "py-client", "extendedKeyUsage = clientAuth\n")):
            openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                    "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
            with open(os.path.join(d, f"{name}.ext"), "w") as f:
                f.write(ext)
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                    "-CAcreateserial", "-days", "1", "-extfile", f"{name}.ext",
                    "-out", f"{name}.crt", cwd=d)
        server = self.start(f"--tls_cert={d}/server.crt", f"--tls_key={d}/server.key",
                            f"--tls_client_ca={d}/ca.crt", "--tls_client_auth=require")
        creds = Credentials(ca_file=f"{d}/ca.crt", cert_file=f"{d}/client.crt",
                            key_file=f"{d}/client.key")
        channel = make_channel(server.address, creds)
        self.addCleanup(channel.close)
        self.register(channel, None)  # the client certificate is the identity
        sub = Subscription(server.address, "integration", ["svc"], credentials=creds,
                           initial_backoff=0.05, max_backoff=0.2)
        self.addCleanup(sub.close)
        self.assertTrue(poll(lambda: not sub.stale, 10), sub.last_error)
        # Without the CA the server is not trusted: the stream never starts.
        plain = Subscription(server.address, "integration", ["svc"],
                             credentials=Credentials(ca_file=f"{d}/client.crt"),
                             initial_backoff=0.05, max_backoff=0.2)
        self.addCleanup(plain.close)
        self.assertTrue(poll(lambda: plain.last_error is not None, 10))
        self.assertEqual(plain.last_error.code, grpc.StatusCode.UNAVAILABLE)
        self.assertTrue(plain.stale)


if __name__ == "__main__":
    unittest.main()
