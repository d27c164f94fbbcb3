// snapshot_bench measures how long the Go client takes from Subscribe to a full snapshot of
// N keys applied (not stale), against a running confcenterd (it starts none itself):
//
//	snapshot_bench --address 127.0.0.1:PORT [--keys 10000] [--runs 5] [--value-bytes 32]
//
// It writes the keys into a fresh tenant (batched Txns of --batch operations; the server's
// --max_txn_ops is 128 by default), then subscribes --runs times, each on a fresh
// connection, and prints the p50 and max time to the applied snapshot and the Go heap held
// with the snapshot applied.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	confcenter "confcenter.dev/client/go"
	pb "confcenter.dev/client/go/confcenterpb"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("snapshot_bench: ")
	address := flag.String("address", "", "confcenterd host:port (required)")
	keys := flag.Int("keys", 10000, "keys to write and subscribe to")
	runs := flag.Int("runs", 5, "subscriptions to time")
	batch := flag.Int("batch", 128, "operations per Txn (at most the server's --max_txn_ops)")
	valueBytes := flag.Int("value-bytes", 32, "bytes per value")
	service := flag.String("service", "bench", "the service the keys belong to")
	tenant := flag.String("tenant", "", "the tenant to create and fill (default: bench-<random>)")
	timeout := flag.Duration("timeout", time.Minute, "longest wait for one snapshot")
	flag.Parse()
	if *address == "" || *keys <= 0 || *runs <= 0 || *batch <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *tenant == "" {
		var r [4]byte
		rand.Read(r[:])
		*tenant = "bench-" + hex.EncodeToString(r[:])
	}
	creds := confcenter.CredentialsFromEnvironment()
	conn, err := confcenter.Dial(*address, creds)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()

	// A fresh tenant, filled by batched Txns.
	call, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = pb.NewTenantServiceClient(conn).Register(call, &pb.RegisterRequest{
		Tenant: *tenant, Services: []*pb.ServiceDefinition{{Name: *service}},
	})
	cancel()
	if err != nil {
		log.Fatalf("register %s: %v", *tenant, err)
	}
	config := pb.NewConfigServiceClient(conn)
	value := strings.Repeat("v", *valueBytes)
	var revision int64
	start := time.Now()
	for i := 0; i < *keys; i += *batch {
		req := &pb.TxnRequest{}
		for j := i; j < i+*batch && j < *keys; j++ {
			req.Ops = append(req.Ops, &pb.TxnOp{Type: pb.TxnOpType_TXN_OP_TYPE_PUT, Tenant: *tenant,
				Service: *service, Key: fmt.Sprintf("key.%06d", j), Value: value})
		}
		call, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := config.Txn(call, req)
		cancel()
		if err != nil {
			log.Fatalf("txn: %v", err)
		}
		revision = resp.GetRevision()
	}
	write := time.Since(start)
	fmt.Printf("wrote %d keys into %s/%s in %d Txns: %.0f ms (revision %d)\n", *keys, *tenant, *service,
		(*keys+*batch-1) / *batch, ms(write), revision)

	var times []time.Duration
	var heap uint64
	for run := 0; run < *runs; run++ {
		// A fresh connection each run: the time includes connecting.
		c, err := confcenter.Dial(*address, creds)
		if err != nil {
			log.Fatal(err)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		sub, err := confcenter.Subscribe(ctx, c, confcenter.Options{Tenant: *tenant, Services: []string{*service},
			Instance: confcenter.InstanceOptions{Disabled: true}})
		if err != nil {
			log.Fatal(err)
		}
		if !sub.WaitForRevision(revision, *timeout) {
			log.Fatalf("run %d: no snapshot at revision %d within %v (last error: %v)", run, revision, *timeout, sub.LastError())
		}
		elapsed := time.Since(start)
		n := len(sub.Snapshot())
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if n < *keys {
			log.Fatalf("run %d: the snapshot holds %d keys, want %d", run, n, *keys)
		}
		if after.HeapAlloc > before.HeapAlloc && after.HeapAlloc-before.HeapAlloc > heap {
			heap = after.HeapAlloc - before.HeapAlloc
		}
		fmt.Printf("run %d: %d keys applied in %.1f ms, heap %.1f MiB (%.1f MiB held by the subscription)\n",
			run+1, n, ms(elapsed), mib(after.HeapAlloc), mib(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc)))
		times = append(times, elapsed)
		sub.Close()
		c.Close()
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	p50 := times[(len(times)-1)/2]
	fmt.Printf("snapshot of %d keys: p50 %.1f ms, max %.1f ms over %d runs; Go heap held by a subscription with it: %.1f MiB\n",
		*keys, ms(p50), ms(times[len(times)-1]), len(times), mib(heap))
}

func min(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(b uint64) float64       { return float64(b) / (1 << 20) }
