package confcenter

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	pb "confcenter.dev/client/go/confcenterpb"
)

// The cache file: the last good view with its resume point. The same format as the C++
// library's, so either may read what the other wrote.
type cacheFile struct {
	Tenant   string       `json:"tenant"`
	Services []string     `json:"services"`
	Revision int64        `json:"revision"`
	Epoch    string       `json:"epoch"`
	Entries  []cacheEntry `json:"entries"`
}

type cacheEntry struct {
	Service       string `json:"service"`
	Key           string `json:"key"`
	Value         string `json:"value"`
	ContentType   int32  `json:"content_type"`
	SourceTenant  string `json:"source_tenant"`
	GrayReleaseID int64  `json:"gray_release_id"`
	Revision      int64  `json:"revision"`
}

// errForeignCache: the file was written for another tenant or service list.
var errForeignCache = errors.New("cache file of another subscription")

func sameServices(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// loadCache reads the view cached in path for (tenant, services). A missing file is
// os.ErrNotExist (errors.Is), a file of another subscription errForeignCache.
func loadCache(path, tenant string, services []string) (view map[Key]Value, revision int64, epoch string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, "", err
	}
	var doc cacheFile
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, "", fmt.Errorf("cache file %s: %w", path, err)
	}
	if doc.Tenant != tenant || !sameServices(doc.Services, services) {
		return nil, 0, "", errForeignCache
	}
	view = make(map[Key]Value, len(doc.Entries))
	for _, e := range doc.Entries {
		view[Key{e.Service, e.Key}] = Value{
			Value:         e.Value,
			ContentType:   pb.ContentType(e.ContentType),
			SourceTenant:  e.SourceTenant,
			Revision:      e.Revision,
			GrayReleaseID: e.GrayReleaseID,
		}
	}
	return view, doc.Revision, doc.Epoch, nil
}

// saveCache writes the view to path atomically: a temporary file beside it (mode 0600, the
// view may hold secrets), fsync, rename over path, fsync of the directory. After a crash
// the file is the old one or the new one, whole.
func saveCache(path, tenant string, services []string, view map[Key]Value, revision int64, epoch string) error {
	doc := cacheFile{Tenant: tenant, Services: services, Revision: revision, Epoch: epoch,
		Entries: make([]cacheEntry, 0, len(view))}
	if doc.Services == nil {
		doc.Services = []string{}
	}
	for _, k := range sortedKeys(view) {
		v := view[k]
		doc.Entries = append(doc.Entries, cacheEntry{
			Service: k.Service, Key: k.Key, Value: v.Value, ContentType: int32(v.ContentType),
			SourceTenant: v.SourceTenant, GrayReleaseID: v.GrayReleaseID, Revision: v.Revision,
		})
	}
	data, err := json.MarshalIndent(&doc, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp := fmt.Sprintf("%s.tmp.%d", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	// A leftover temporary file of another mode keeps its mode on open: set it.
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}
