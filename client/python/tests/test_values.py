"""Typed getter parsing and the resync diff (no server, no generated code needed)."""

import datetime
import unittest

from confcenter_client.values import (ConfigChange, ConfigValue, diff, parse_bool,
                                      parse_duration, parse_duration_ns, parse_float, parse_int,
                                      to_timedelta)


class ParseTest(unittest.TestCase):
    def test_int(self):
        self.assertEqual(parse_int("42"), 42)
        self.assertEqual(parse_int(" -7 "), -7)
        self.assertEqual(parse_int("+3"), 3)
        self.assertEqual(parse_int("9223372036854775807"), 9223372036854775807)
        for bad in ("", "1.5", "1_000", "0x10", "abc", "9223372036854775808", "١٢"):
            self.assertIsNone(parse_int(bad), bad)

    def test_float(self):
        self.assertEqual(parse_float("1.5"), 1.5)
        self.assertEqual(parse_float("-2e3"), -2000.0)
        self.assertEqual(parse_float(".5"), 0.5)
        self.assertEqual(parse_float("3"), 3.0)
        self.assertEqual(parse_float("inf"), float("inf"))
        for bad in ("", "1_0", "1.5x", "e5", "1e"):
            self.assertIsNone(parse_float(bad), bad)

    def test_bool(self):
        for text in ("true", "TRUE", "Yes", "on", "1", " On "):
            self.assertIs(parse_bool(text), True, text)
        for text in ("false", "False", "NO", "off", "0"):
            self.assertIs(parse_bool(text), False, text)
        for bad in ("", "y", "2", "truthy", "enabled"):
            self.assertIsNone(parse_bool(bad), bad)

    def test_duration(self):
        ms = datetime.timedelta(milliseconds=1)
        self.assertEqual(parse_duration("300ms"), 300 * ms)
        self.assertEqual(parse_duration("1.5s"), 1500 * ms)
        self.assertEqual(parse_duration("2m"), datetime.timedelta(minutes=2))
        self.assertEqual(parse_duration("1h30m"), datetime.timedelta(hours=1, minutes=30))
        self.assertEqual(parse_duration("-2s"), datetime.timedelta(seconds=-2))
        self.assertEqual(parse_duration("0"), datetime.timedelta(0))
        self.assertEqual(parse_duration("1500us"), 1500 * datetime.timedelta(microseconds=1))
        self.assertEqual(parse_duration_ns("10ns"), 10)
        self.assertEqual(parse_duration_ns("0.1s"), 100_000_000)
        for bad in ("", "5", "1d", "s", "1.5", "ms", "1h 30m", "--1s", "1.2.3s"):
            self.assertIsNone(parse_duration(bad), bad)

    def test_fallback_as_seconds(self):
        self.assertEqual(to_timedelta(1.5), datetime.timedelta(seconds=1.5))
        self.assertEqual(to_timedelta(datetime.timedelta(minutes=1)), datetime.timedelta(minutes=1))
        with self.assertRaises(TypeError):
            to_timedelta("1s")


class DiffTest(unittest.TestCase):
    def test_resync_reports_only_the_differences(self):
        a = ConfigValue("1", source_tenant="integration", revision=3)
        before = {
            ("svc", "same"): a,
            ("svc", "changed"): ConfigValue("old", source_tenant="feat", revision=4),
            ("svc", "gone"): ConfigValue("x", source_tenant="feat", revision=5),
            ("svc", "moved"): ConfigValue("v", source_tenant="feat", revision=6),
        }
        after = {
            ("svc", "same"): ConfigValue("1", source_tenant="integration", revision=3),
            ("svc", "changed"): ConfigValue("new", source_tenant="feat", revision=9),
            ("svc", "moved"): ConfigValue("v", source_tenant="integration", revision=2),
            ("dep", "new"): ConfigValue("n", source_tenant="integration", revision=8),
        }
        changes = diff(before, after, 10)
        self.assertEqual(changes, [
            ConfigChange("dep", "new", None, after[("dep", "new")], 10),
            ConfigChange("svc", "changed", before[("svc", "changed")],
                         after[("svc", "changed")], 10),
            ConfigChange("svc", "gone", before[("svc", "gone")], None, 10),
            ConfigChange("svc", "moved", before[("svc", "moved")], after[("svc", "moved")], 10),
        ])

    def test_identical_views_report_nothing(self):
        view = {("s", "k"): ConfigValue("v", revision=1)}
        self.assertEqual(diff(view, dict(view), 5), [])
        self.assertEqual(diff({}, {}, 5), [])


if __name__ == "__main__":
    unittest.main()
