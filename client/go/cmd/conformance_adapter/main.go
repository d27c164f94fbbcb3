// conformance_adapter drives the Go client through the conformance adapter protocol of
// docs/clients.md: a subscription with two callbacks, JSON lines on stdout, commands read
// from a file.
//
//	conformance_adapter --address 127.0.0.1:PORT --tenant T --service S [--service S2 ...]
//	    --cache-file FILE --commands FILE
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	confcenter "confcenter.dev/client/go"
)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// out prints one JSON object per line, whole lines at once.
type out struct {
	mu sync.Mutex
}

func (o *out) print(v interface{}) {
	data, err := json.Marshal(v)
	if err != nil {
		log.Fatalf("encoding %v: %v", v, err)
	}
	data = append(data, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, err := os.Stdout.Write(data); err != nil {
		log.Fatalf("stdout: %v", err)
	}
}

type valueJSON struct {
	Value        string `json:"value"`
	SourceTenant string `json:"source_tenant"`
}

func valueOrNull(v *confcenter.Value) *valueJSON {
	if v == nil {
		return nil
	}
	return &valueJSON{Value: v.Value, SourceTenant: v.SourceTenant}
}

type changeLine struct {
	Type     string     `json:"type"`
	Callback string     `json:"callback"`
	Service  string     `json:"service"`
	Key      string     `json:"key"`
	Old      *valueJSON `json:"old"`
	New      *valueJSON `json:"new"`
	Revision int64      `json:"revision"`
}

type stateLine struct {
	Type     string `json:"type"`
	Revision int64  `json:"revision"`
	Stale    bool   `json:"stale"`
}

type command struct {
	ID        json.RawMessage `json:"id"`
	Cmd       string          `json:"cmd"`
	Service   string          `json:"service"`
	Key       string          `json:"key"`
	Endpoint  string          `json:"endpoint"`
	Fallback  json.RawMessage `json:"fallback"`
	Revision  int64           `json:"revision"`
	TimeoutMs int64           `json:"timeout_ms"`
}

type entryJSON struct {
	Service      string `json:"service"`
	Key          string `json:"key"`
	Value        string `json:"value"`
	SourceTenant string `json:"source_tenant"`
}

// reply answers cmd with fields (the id and type added); quit reports it was a quit.
func reply(sub *confcenter.Subscription, c command) (fields map[string]interface{}, quit bool) {
	fields = map[string]interface{}{}
	fail := func(format string, args ...interface{}) (map[string]interface{}, bool) {
		return map[string]interface{}{"error": fmt.Sprintf(format, args...)}, false
	}
	switch c.Cmd {
	case "get":
		v, ok := sub.Get(c.Service, c.Key)
		fields["found"] = ok
		fields["value"] = v.Value
		fields["source_tenant"] = v.SourceTenant
		fields["revision"] = v.Revision
	case "get_int":
		var fallback int64
		if err := json.Unmarshal(c.Fallback, &fallback); err != nil {
			return fail("fallback: %v", err)
		}
		fields["value"] = sub.Int(c.Service, c.Key, fallback)
	case "get_bool":
		var fallback bool
		if err := json.Unmarshal(c.Fallback, &fallback); err != nil {
			return fail("fallback: %v", err)
		}
		fields["value"] = sub.Bool(c.Service, c.Key, fallback)
	case "get_duration_ms":
		var fallback int64
		if err := json.Unmarshal(c.Fallback, &fallback); err != nil {
			return fail("fallback: %v", err)
		}
		d := sub.Duration(c.Service, c.Key, time.Duration(fallback)*time.Millisecond)
		fields["value"] = d.Milliseconds()
	case "endpoint":
		address, ok := sub.Endpoint(c.Service, c.Endpoint)
		fields["found"] = ok
		fields["address"] = address
	case "wait_revision":
		fields["ok"] = sub.WaitForRevision(c.Revision, time.Duration(c.TimeoutMs)*time.Millisecond)
	case "snapshot":
		// The revision and staleness of the view copied, read together.
		var view map[confcenter.Key]confcenter.Value
		var revision int64
		var stale bool
		for {
			revision, stale = sub.Revision(), sub.Stale()
			view = sub.Snapshot()
			if sub.Revision() == revision && sub.Stale() == stale {
				break
			}
		}
		entries := make([]entryJSON, 0, len(view))
		for _, k := range confcenter.SortedKeys(view) {
			v := view[k]
			entries = append(entries, entryJSON{Service: k.Service, Key: k.Key, Value: v.Value, SourceTenant: v.SourceTenant})
		}
		fields["revision"] = revision
		fields["stale"] = stale
		fields["entries"] = entries
	case "quit":
		fields["ok"] = true
		quit = true
	default:
		return fail("unknown command %q", c.Cmd)
	}
	return fields, quit
}

func main() {
	log.SetFlags(log.Lmicroseconds)
	log.SetPrefix("conformance_adapter: ")
	var services stringList
	address := flag.String("address", "", "confcenterd host:port")
	tenant := flag.String("tenant", "", "the tenant to follow")
	flag.Var(&services, "service", "a service to follow (repeatable)")
	cacheFile := flag.String("cache-file", "", "the subscription's cache file")
	commandsFile := flag.String("commands", "", "the file of commands, one JSON object per line")
	flag.Parse()
	if *address == "" || *tenant == "" || *commandsFile == "" || len(services) == 0 {
		flag.Usage()
		os.Exit(2)
	}

	conn, err := confcenter.Dial(*address, confcenter.CredentialsFromEnvironment(),
		confcenter.DialOptions{BaseDelay: 50 * time.Millisecond, MaxDelay: time.Second})
	if err != nil {
		log.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	sub, err := confcenter.Subscribe(context.Background(), conn, confcenter.Options{
		Tenant:         *tenant,
		Services:       services,
		CacheFile:      *cacheFile,
		InitialBackoff: 50 * time.Millisecond,
		MaxBackoff:     time.Second,
	})
	if err != nil {
		log.Fatalf("subscribe: %v", err)
	}
	var o out
	callback := func(tag string) confcenter.Callback {
		return func(c confcenter.Change) {
			o.print(changeLine{Type: "change", Callback: tag, Service: c.Service, Key: c.Key,
				Old: valueOrNull(c.Old), New: valueOrNull(c.New), Revision: c.Revision})
		}
	}
	sub.OnChange(services[0], "watched", false, callback("key"))
	sub.OnChange("", "p.", true, callback("prefix"))

	// State lines: whenever (revision, stale) differs from the last printed, checked every
	// 10 ms.
	// The first is printed before any command is read.
	last := stateLine{Type: "state", Revision: sub.Revision(), Stale: sub.Stale()}
	o.print(last)
	stopState := make(chan struct{})
	stateDone := make(chan struct{})
	go func() {
		defer close(stateDone)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
			case <-stopState:
				return
			}
			now := stateLine{Type: "state", Revision: sub.Revision(), Stale: sub.Stale()}
			if now != last {
				o.print(now)
				last = now
			}
		}
	}()

	// Commands: poll the file, answer each complete new line once, in order.
	var offset int64
	var pending []byte
	for {
		f, err := os.Open(*commandsFile)
		if err == nil {
			if _, err = f.Seek(offset, io.SeekStart); err == nil {
				var data []byte
				data, err = io.ReadAll(f)
				offset += int64(len(data))
				pending = append(pending, data...)
			}
			f.Close()
		}
		if err != nil && !os.IsNotExist(err) {
			log.Printf("commands: %v", err)
		}
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			line := bytes.TrimSpace(pending[:i])
			pending = pending[i+1:]
			if len(line) == 0 {
				continue
			}
			var c command
			var fields map[string]interface{}
			quit := false
			if err := json.Unmarshal(line, &c); err != nil {
				fields = map[string]interface{}{"error": fmt.Sprintf("not a command: %v", err)}
			} else {
				fields, quit = reply(sub, c)
			}
			fields["type"] = "reply"
			if len(c.ID) > 0 {
				fields["id"] = c.ID
			} else {
				fields["id"] = nil
			}
			o.print(fields)
			if quit {
				close(stopState)
				<-stateDone
				sub.Close()
				os.Exit(0)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
