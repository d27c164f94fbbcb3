package confcenter

// Tests against a real confcenterd, run when $CONFCENTERD names its binary (skipped
// otherwise): each starts one on a free loopback port with a temporary data dir.
//
//	CONFCENTERD=/path/to/build/confcenterd go test -run Server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "confcenter.dev/client/go/confcenterpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type server struct {
	address string
	conn    *grpc.ClientConn
	tenants pb.TenantServiceClient
	config  pb.ConfigServiceClient
}

func startServer(t *testing.T) *server {
	return startServerWith(t, Credentials{})
}

// startServerWith starts confcenterd with flags and connects with creds.
func startServerWith(t *testing.T, creds Credentials, flags ...string) *server {
	binary := os.Getenv("CONFCENTERD")
	if binary == "" {
		t.Skip("CONFCENTERD is not set")
	}
	dir := t.TempDir()
	portFile := filepath.Join(dir, "port")
	cmd := exec.Command(binary, "--listen=127.0.0.1:0", "--port_file="+portFile,
		"--data_dir="+filepath.Join(dir, "data"), "--admin_listen=127.0.0.1:0",
		"--http_listen=127.0.0.1:0", "--log_level=warn")
	cmd.Args = append(cmd.Args, flags...)
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logFile.Close()
	})
	// Serving once it has written its port (bounded polling).
	var address string
	if !eventually(func() bool {
		data, err := os.ReadFile(portFile)
		port, perr := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || perr != nil || port == 0 {
			return false
		}
		address = "127.0.0.1:" + strconv.Itoa(port)
		return true
	}) {
		data, _ := os.ReadFile(logFile.Name())
		t.Fatalf("confcenterd wrote no port file:\n%s", data)
	}
	conn, err := Dial(address, creds)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &server{conn: conn, tenants: pb.NewTenantServiceClient(conn),
		config: pb.NewConfigServiceClient(conn)}
	// Up once it answers (bounded polling).
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := s.tenants.ListTenants(ctx, &pb.ListTenantsRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			data, _ := os.ReadFile(logFile.Name())
			t.Fatalf("confcenterd did not answer: %v\n%s", err, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.address = address
	return s
}

func (s *server) register(t *testing.T, tenant, service string) int64 {
	t.Helper()
	resp, err := s.tenants.Register(context.Background(), &pb.RegisterRequest{
		Tenant: tenant, Services: []*pb.ServiceDefinition{{Name: service}}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetRevision()
}

func (s *server) put(t *testing.T, tenant, service, key, value string) int64 {
	t.Helper()
	resp, err := s.config.Put(context.Background(), &pb.PutRequest{Tenant: tenant, Service: service, Key: key, Value: value})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetRevision()
}

// eventually polls cond every 10 ms for up to 30 s.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestServerMissingTenantIsRetriedUntilRegistered(t *testing.T) {
	s := startServer(t)
	sub, err := Subscribe(context.Background(), s.conn, Options{Tenant: "later", Services: []string{"svc"},
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !eventually(func() bool { return status.Code(sub.LastError()) == codes.NotFound }) {
		t.Fatalf("LastError = %v, want NOT_FOUND", sub.LastError())
	}
	if !sub.Stale() {
		t.Error("not stale without a view")
	}
	s.register(t, "later", "svc")
	rev := s.put(t, "later", "svc", "k", "v")
	if !sub.WaitForRevision(rev, 30*time.Second) {
		t.Fatalf("never caught up: %v", sub.LastError())
	}
	if sub.LastError() != nil || sub.String("svc", "k", "") != "v" {
		t.Errorf("LastError %v, k = %q", sub.LastError(), sub.String("svc", "k", ""))
	}
}

func TestServerCallbacksRemoveCallbackAndClose(t *testing.T) {
	s := startServer(t)
	s.register(t, "feat", "svc")
	rev := s.put(t, "feat", "svc", "a", "1")
	sub, err := Subscribe(context.Background(), s.conn, Options{Tenant: "feat", Services: []string{"svc"},
		Instance: InstanceOptions{ID: "go-test:1", Labels: map[string]string{"lang": "go"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !sub.WaitForRevision(rev, 30*time.Second) {
		t.Fatal("no snapshot")
	}
	var mu sync.Mutex
	var keyCalls, prefixCalls []Change
	keyID := sub.OnChange("svc", "a", false, func(c Change) {
		// Callbacks may read the view: it already holds the change.
		if got := sub.String("svc", c.Key, ""); c.New != nil && got != c.New.Value {
			t.Errorf("the view holds %q during the callback of %q", got, c.New.Value)
		}
		mu.Lock()
		keyCalls = append(keyCalls, c)
		mu.Unlock()
	})
	sub.OnChange("", "", true, func(c Change) {
		mu.Lock()
		prefixCalls = append(prefixCalls, c)
		mu.Unlock()
	})
	rev = s.put(t, "feat", "svc", "a", "2")
	if !sub.WaitForRevision(rev, 30*time.Second) {
		t.Fatal("no change")
	}
	mu.Lock()
	if len(keyCalls) != 1 || keyCalls[0].Old.Value != "1" || keyCalls[0].New.Value != "2" ||
		keyCalls[0].New.SourceTenant != "feat" || keyCalls[0].Revision != rev || keyCalls[0].New.Revision != rev {
		t.Errorf("key callback calls %+v", keyCalls)
	}
	mu.Unlock()
	sub.RemoveCallback(keyID)
	rev = s.put(t, "feat", "svc", "a", "3")
	if !sub.WaitForRevision(rev, 30*time.Second) {
		t.Fatal("no change")
	}
	mu.Lock()
	if len(keyCalls) != 1 || len(prefixCalls) != 2 {
		t.Errorf("after RemoveCallback: %d key calls, %d prefix calls", len(keyCalls), len(prefixCalls))
	}
	mu.Unlock()

	// The instance is listed, with what it applied.
	instances := pb.NewInstanceServiceClient(s.conn)
	if !eventually(func() bool {
		resp, err := instances.ListInstances(context.Background(), &pb.ListInstancesRequest{Tenant: "feat"})
		if err != nil {
			return false
		}
		for _, in := range resp.GetInstances() {
			if in.GetInfo().GetInstanceId() == "go-test:1" && in.GetAppliedRevision() >= rev &&
				in.GetInfo().GetService() == "svc" && in.GetInfo().GetLabels()["lang"] == "go" {
				return true
			}
		}
		return false
	}) {
		t.Error("the instance is not listed with its applied revision")
	}
	if sub.ReportedRevision() < rev {
		t.Errorf("ReportedRevision %d < %d", sub.ReportedRevision(), rev)
	}

	sub.Close()
	mu.Lock()
	calls := len(prefixCalls)
	mu.Unlock()
	rev = s.put(t, "feat", "svc", "a", "4")
	if sub.WaitForRevision(rev, 200*time.Millisecond) {
		t.Error("WaitForRevision true after Close")
	}
	mu.Lock()
	if len(prefixCalls) != calls {
		t.Error("a callback ran after Close")
	}
	mu.Unlock()
}

func TestServerTokenFileIsReadPerStream(t *testing.T) {
	s := startServer(t)
	s.register(t, "feat", "svc")
	rev := s.put(t, "feat", "svc", "a", "1")
	tokenFile := filepath.Join(t.TempDir(), "token")
	sub, err := Subscribe(context.Background(), s.conn, Options{Tenant: "feat",
		Credentials:    Credentials{TokenFile: tokenFile},
		InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// No file: no call, UNAUTHENTICATED naming the file.
	if !eventually(func() bool { return status.Code(sub.LastError()) == codes.Unauthenticated }) {
		t.Fatalf("LastError = %v, want UNAUTHENTICATED", sub.LastError())
	}
	// The file appears: the next attempt sends it (a server without --auth_policy takes any).
	if err := os.WriteFile(tokenFile, []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !sub.WaitForRevision(rev, 30*time.Second) {
		t.Fatalf("never caught up: %v", sub.LastError())
	}
}
