package confcenter

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	pb "confcenter.dev/client/go/confcenterpb"
)

// Key names one key of the view.
type Key struct {
	Service string
	Key     string
}

// Value is one effective value of the view.
type Value struct {
	Value       string
	ContentType pb.ContentType
	// The tenant of the chain the value comes from.
	SourceTenant string
	// The revision at which that entry was written.
	Revision int64
	// Non-zero: the value of the source tenant's gray release with this id, which this
	// instance is in the audience of; 0 for released values.
	GrayReleaseID int64
}

// Change is a change of one key of the view, as passed to callbacks.
type Change struct {
	Service string
	Key     string
	// Old is nil when the key was absent; New is nil when the key is gone.
	Old *Value
	New *Value
	// The revision of the view after the change.
	Revision int64
}

// ParseInt parses a decimal integer (surrounding whitespace ignored).
func ParseInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return v, err == nil
}

// ParseFloat parses a floating-point number (surrounding whitespace ignored).
func ParseFloat(s string) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return v, err == nil
}

// ParseBool parses true/false, yes/no, on/off, 1/0 in any case (surrounding whitespace
// ignored).
func ParseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// ParseDuration parses a duration such as "300ms", "1.5s", "2m" or "1h30m" (Go's
// time.ParseDuration; surrounding whitespace ignored).
func ParseDuration(s string) (time.Duration, bool) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	return d, err == nil
}

// diff returns the changes that turn before into after, ordered by (service, key): changed
// keys (old and new value), keys that appeared (Old nil) and keys that are gone (New nil).
func diff(before, after map[Key]Value, revision int64) []Change {
	var changes []Change
	for k, old := range before {
		old := old
		if nv, ok := after[k]; !ok {
			changes = append(changes, Change{Service: k.Service, Key: k.Key, Old: &old, Revision: revision})
		} else if nv != old {
			nv := nv
			changes = append(changes, Change{Service: k.Service, Key: k.Key, Old: &old, New: &nv, Revision: revision})
		}
	}
	for k, nv := range after {
		if _, ok := before[k]; !ok {
			nv := nv
			changes = append(changes, Change{Service: k.Service, Key: k.Key, New: &nv, Revision: revision})
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		a, b := changes[i], changes[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Key < b.Key
	})
	return changes
}

// validJSON reports whether s is one JSON document.
func validJSON(s string) bool { return json.Valid([]byte(s)) }
