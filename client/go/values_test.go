package confcenter

import (
	"reflect"
	"testing"
	"time"
)

func TestParseBool(t *testing.T) {
	for _, s := range []string{"true", "TRUE", "True", "yes", "YES", "on", "On", "1", " yes\n"} {
		if v, ok := ParseBool(s); !ok || !v {
			t.Errorf("ParseBool(%q) = %v, %v; want true, true", s, v, ok)
		}
	}
	for _, s := range []string{"false", "FALSE", "no", "No", "off", "OFF", "0"} {
		if v, ok := ParseBool(s); !ok || v {
			t.Errorf("ParseBool(%q) = %v, %v; want false, true", s, v, ok)
		}
	}
	for _, s := range []string{"", "42", "y", "n", "truth", "2", "enabled"} {
		if _, ok := ParseBool(s); ok {
			t.Errorf("ParseBool(%q) parsed", s)
		}
	}
}

func TestParseInt(t *testing.T) {
	cases := map[string]int64{"42": 42, "-7": -7, " 8 ": 8, "+3": 3, "9223372036854775807": 1<<63 - 1}
	for s, want := range cases {
		if v, ok := ParseInt(s); !ok || v != want {
			t.Errorf("ParseInt(%q) = %v, %v; want %v", s, v, ok, want)
		}
	}
	for _, s := range []string{"", "a1", "1.5", "0x10", "9223372036854775808", "1 2"} {
		if _, ok := ParseInt(s); ok {
			t.Errorf("ParseInt(%q) parsed", s)
		}
	}
}

func TestParseFloat(t *testing.T) {
	cases := map[string]float64{"1.5": 1.5, "-2": -2, "1e3": 1000, " 0.25 ": 0.25}
	for s, want := range cases {
		if v, ok := ParseFloat(s); !ok || v != want {
			t.Errorf("ParseFloat(%q) = %v, %v; want %v", s, v, ok, want)
		}
	}
	for _, s := range []string{"", "abc", "1,5"} {
		if _, ok := ParseFloat(s); ok {
			t.Errorf("ParseFloat(%q) parsed", s)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{
		"300ms": 300 * time.Millisecond, "1.5s": 1500 * time.Millisecond, "2m": 2 * time.Minute,
		"1h30m": 90 * time.Minute, " 10s ": 10 * time.Second, "0": 0,
	}
	for s, want := range cases {
		if v, ok := ParseDuration(s); !ok || v != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, v, ok, want)
		}
	}
	for _, s := range []string{"", "5", "a1", "1.5", "1 s", "s"} {
		if _, ok := ParseDuration(s); ok {
			t.Errorf("ParseDuration(%q) parsed", s)
		}
	}
}

// A subscription whose view is set directly (no stream), for the getters.
func viewOnly(view map[Key]Value) *Subscription {
	return &Subscription{view: view, changed: make(chan struct{})}
}

func TestTypedGetters(t *testing.T) {
	s := viewOnly(map[Key]Value{
		{"svc", "n"}:              {Value: "42"},
		{"svc", "p.a"}:            {Value: "a1"},
		{"svc", "flag"}:           {Value: "Yes"},
		{"svc", "t"}:              {Value: "1.5s"},
		{"svc", "f"}:              {Value: "2.5"},
		{"svc", "doc"}:            {Value: `{"a": [1, 2], "b": "x"}`},
		{"dep", "_endpoint.grpc"}: {Value: "127.0.0.1:1001", SourceTenant: "integration"},
	})
	if got := s.Int("svc", "n", 7); got != 42 {
		t.Errorf("Int(n) = %d", got)
	}
	if got := s.Int("svc", "p.a", 7); got != 7 {
		t.Errorf("Int(p.a) = %d, want the fallback", got)
	}
	if got := s.Int("svc", "absent", 7); got != 7 {
		t.Errorf("Int(absent) = %d, want the fallback", got)
	}
	if !s.Bool("svc", "flag", false) || !s.Bool("svc", "n", true) || s.Bool("svc", "n", false) {
		t.Error("Bool")
	}
	if got := s.Duration("svc", "t", 5*time.Millisecond); got != 1500*time.Millisecond {
		t.Errorf("Duration(t) = %v", got)
	}
	if got := s.Duration("svc", "p.a", 5*time.Millisecond); got != 5*time.Millisecond {
		t.Errorf("Duration(p.a) = %v", got)
	}
	if got := s.Float("svc", "f", 1); got != 2.5 {
		t.Errorf("Float(f) = %v", got)
	}
	if got := s.Float("svc", "p.a", 1); got != 1 {
		t.Errorf("Float(p.a) = %v", got)
	}
	if got := s.String("svc", "p.a", "x"); got != "a1" {
		t.Errorf("String(p.a) = %q", got)
	}
	if got := s.String("svc", "absent", "x"); got != "x" {
		t.Errorf("String(absent) = %q", got)
	}
	var doc struct {
		A []int
		B string
	}
	if !s.JSON("svc", "doc", &doc) || !reflect.DeepEqual(doc.A, []int{1, 2}) || doc.B != "x" {
		t.Errorf("JSON(doc) = %+v", doc)
	}
	var any interface{}
	if s.JSON("svc", "p.a", &any) || s.JSON("svc", "absent", &any) || any != nil {
		t.Error("JSON of a non-JSON or absent value succeeded")
	}
	if a, ok := s.Endpoint("dep", "grpc"); !ok || a != "127.0.0.1:1001" {
		t.Errorf("Endpoint(dep, grpc) = %q, %v", a, ok)
	}
	if _, ok := s.Endpoint("dep", "http"); ok {
		t.Error("Endpoint(dep, http) found")
	}
}

func describe(changes []Change) []string {
	var out []string
	for _, c := range changes {
		s := c.Service + "/" + c.Key + " "
		if c.Old != nil {
			s += c.Old.Value + "@" + c.Old.SourceTenant
		} else {
			s += "-"
		}
		s += " -> "
		if c.New != nil {
			s += c.New.Value + "@" + c.New.SourceTenant
		} else {
			s += "-"
		}
		out = append(out, s)
	}
	return out
}

func TestDiffReportsOnlyTheDifferences(t *testing.T) {
	before := map[Key]Value{
		{"svc", "same"}:    {Value: "1", SourceTenant: "feat", Revision: 3},
		{"svc", "changed"}: {Value: "1", SourceTenant: "feat", Revision: 4},
		{"svc", "gone"}:    {Value: "g", SourceTenant: "integration", Revision: 5},
		{"svc", "moved"}:   {Value: "m", SourceTenant: "feat", Revision: 6},
		{"svc", "rewrote"}: {Value: "r", SourceTenant: "feat", Revision: 7},
	}
	after := map[Key]Value{
		{"svc", "same"}:    {Value: "1", SourceTenant: "feat", Revision: 3},
		{"svc", "changed"}: {Value: "2", SourceTenant: "feat", Revision: 9},
		{"dep", "new"}:     {Value: "n", SourceTenant: "integration", Revision: 10},
		{"svc", "moved"}:   {Value: "m", SourceTenant: "integration", Revision: 2},
		{"svc", "rewrote"}: {Value: "r", SourceTenant: "feat", Revision: 11},
	}
	changes := diff(before, after, 12)
	want := []string{
		"dep/new - -> n@integration",
		"svc/changed 1@feat -> 2@feat",
		"svc/gone g@integration -> -",
		"svc/moved m@feat -> m@integration",
		"svc/rewrote r@feat -> r@feat", // written again: a new entry revision
	}
	if got := describe(changes); !reflect.DeepEqual(got, want) {
		t.Errorf("diff = %q\nwant %q", got, want)
	}
	for _, c := range changes {
		if c.Revision != 12 {
			t.Errorf("%s/%s: revision %d", c.Service, c.Key, c.Revision)
		}
	}
	if changes := diff(after, after, 12); len(changes) != 0 {
		t.Errorf("diff of equal views = %q", describe(changes))
	}
}
