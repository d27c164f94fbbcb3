"""The cache file: round trip, mode 0600, atomic replacement, and rejection of another
subscription's file."""

import json
import os
import stat
import tempfile
import unittest

from confcenter_client import cache
from confcenter_client.values import ConfigValue


class CacheTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "view.json")
        self.view = {
            ("svc", "a"): ConfigValue("1", 1, "feat", 7),
            ("svc", "secret"): ConfigValue("hunter2", 1, "integration", 3),
            ("dep", "_endpoint.grpc"): ConfigValue("127.0.0.1:9", 1, "integration", 2, 0),
            ("svc", "gray"): ConfigValue("g", 2, "feat", 8, 42),
            ("svc", "ünï"): ConfigValue("ß\n\"quoted\"", 1, "feat", 9),
        }

    def tearDown(self):
        self.dir.cleanup()

    def test_round_trip(self):
        cache.save(self.path, "feat", ["svc", "dep"], 12, "ep-1", self.view)
        loaded = cache.load(self.path, "feat", ["svc", "dep"])
        self.assertIsNotNone(loaded)
        self.assertEqual(loaded.revision, 12)
        self.assertEqual(loaded.epoch, "ep-1")
        self.assertEqual(loaded.view, self.view)
        with open(self.path, encoding="utf-8") as f:
            doc = json.load(f)
        self.assertEqual(doc["tenant"], "feat")
        self.assertEqual(doc["services"], ["svc", "dep"])
        self.assertEqual(len(doc["entries"]), len(self.view))

    def test_mode_0600_and_no_temp_file_left(self):
        # A leftover temp file of a wider mode does not widen the cache.
        with open(f"{self.path}.tmp.{os.getpid()}", "w") as f:
            f.write("junk")
        os.chmod(f"{self.path}.tmp.{os.getpid()}", 0o644)
        cache.save(self.path, "feat", ["svc"], 1, "", self.view)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)
        self.assertEqual(os.listdir(self.dir.name), ["view.json"])
        # Rewriting replaces the file whole.
        cache.save(self.path, "feat", ["svc"], 2, "", {})
        loaded = cache.load(self.path, "feat", ["svc"])
        self.assertEqual((loaded.revision, loaded.view), (2, {}))
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o600)

    def test_another_tenant_or_service_list_is_ignored(self):
        cache.save(self.path, "feat", ["svc", "dep"], 12, "ep-1", self.view)
        self.assertIsNone(cache.load(self.path, "other", ["svc", "dep"]))
        self.assertIsNone(cache.load(self.path, "feat", ["svc"]))
        self.assertIsNone(cache.load(self.path, "feat", ["dep", "svc"]))
        self.assertIsNone(cache.load(self.path, "feat", []))

    def test_missing_or_damaged_file_is_ignored(self):
        self.assertIsNone(cache.load(self.path, "feat", ["svc"]))
        for junk in ("", "{", "[]", '{"tenant":"feat","services":["svc"],"entries":[{}]}',
                     '{"tenant":"feat","services":["svc"],"revision":"x"}'):
            with open(self.path, "w") as f:
                f.write(junk)
            self.assertIsNone(cache.load(self.path, "feat", ["svc"]), junk)

    def test_unwritable_directory_raises_and_leaves_nothing(self):
        with self.assertRaises(OSError):
            cache.save(os.path.join(self.dir.name, "no", "such", "dir.json"), "feat", [], 1, "",
                       self.view)


if __name__ == "__main__":
    unittest.main()
