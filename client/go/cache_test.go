package confcenter

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	pb "confcenter.dev/client/go/confcenterpb"
)

func testView() map[Key]Value {
	return map[Key]Value{
		{"svc", "a"}:              {Value: "1", ContentType: pb.ContentType_CONTENT_TYPE_TEXT, SourceTenant: "feat", Revision: 4},
		{"svc", "doc"}:            {Value: `{"x":1}`, ContentType: pb.ContentType_CONTENT_TYPE_JSON, SourceTenant: "integration", Revision: 2, GrayReleaseID: 7},
		{"dep", "_endpoint.grpc"}: {Value: "127.0.0.1:1001", ContentType: pb.ContentType_CONTENT_TYPE_TEXT, SourceTenant: "integration", Revision: 3},
		{"svc", "empty"}:          {Value: "", ContentType: pb.ContentType_CONTENT_TYPE_TEXT, SourceTenant: "feat", Revision: 5},
	}
}

func TestCacheRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.json")
	services := []string{"svc", "dep"}
	if err := saveCache(path, "feat", services, testView(), 42, "epoch-1"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %o, want 600", mode)
	}
	view, rev, epoch, err := loadCache(path, "feat", services)
	if err != nil {
		t.Fatal(err)
	}
	if rev != 42 || epoch != "epoch-1" || !reflect.DeepEqual(view, testView()) {
		t.Errorf("loaded %v %q %v", rev, epoch, view)
	}
	// No temporary file left beside it.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files", len(entries))
	}
}

func TestCacheReplacesALeftoverTemporaryFileOfAnotherMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.json")
	tmp := path + ".tmp." + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := saveCache(path, "feat", nil, testView(), 1, ""); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode %o, want 600", mode)
	}
	if _, _, _, err := loadCache(path, "feat", nil); err != nil {
		t.Errorf("load: %v", err)
	}
}

func TestCacheOfAnotherSubscriptionIsRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.json")
	if err := saveCache(path, "feat", []string{"svc"}, testView(), 42, "e"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tenant   string
		services []string
	}{
		{"other", []string{"svc"}},
		{"feat", []string{"svc", "dep"}},
		{"feat", nil},
		{"feat", []string{"dep"}},
	} {
		if _, _, _, err := loadCache(path, c.tenant, c.services); !errors.Is(err, errForeignCache) {
			t.Errorf("load for %s %v: %v, want errForeignCache", c.tenant, c.services, err)
		}
	}
	// Every service (an empty list) is a list of its own, and round-trips.
	if err := saveCache(path, "feat", nil, testView(), 42, "e"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := loadCache(path, "feat", []string{}); err != nil {
		t.Errorf("load of every service: %v", err)
	}
}

func TestCacheMissingOrDamaged(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := loadCache(filepath.Join(dir, "none.json"), "feat", nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, _, _, err := loadCache(bad, "feat", nil); err == nil {
		t.Error("damaged file loaded")
	}
}

// A subscription started on a cache of its own serves it, stale; on another tenant's cache
// it starts empty. The server address is one nothing listens on: starting never fails.
func TestSubscribeServesItsCacheStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.json")
	if err := saveCache(path, "feat", []string{"svc"}, testView(), 42, "e"); err != nil {
		t.Fatal(err)
	}
	conn, err := Dial("127.0.0.1:1", Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := Subscribe(context.Background(), conn, Options{Tenant: "feat", Services: []string{"svc"}, CacheFile: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Stale() || s.Revision() != 42 || s.Epoch() != "e" || !reflect.DeepEqual(s.Snapshot(), testView()) {
		t.Errorf("served %v %v %q %v", s.Stale(), s.Revision(), s.Epoch(), s.Snapshot())
	}
	if s.WaitForRevision(1, 0) {
		t.Error("WaitForRevision true on a stale view")
	}
	other, err := Subscribe(context.Background(), conn, Options{Tenant: "other", Services: []string{"svc"}, CacheFile: path})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Revision() != 0 || len(other.Snapshot()) != 0 || !other.Stale() {
		t.Errorf("another tenant's cache served: %v %v", other.Revision(), other.Snapshot())
	}
}
