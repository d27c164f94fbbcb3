package confcenter

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// writeCert makes a certificate signed by parent (self-signed if nil) and writes it and its
// key as PEM files dir/name.pem and dir/name.key.
func writeCert(t *testing.T, dir, name string, template *x509.Certificate, parent *x509.Certificate,
	parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return cert, key
}

func TestServerMutualTLS(t *testing.T) {
	if os.Getenv("CONFCENTERD") == "" {
		t.Skip("CONFCENTERD is not set")
	}
	dir := t.TempDir()
	now := time.Now()
	ca, caKey := writeCert(t, dir, "ca", &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	writeCert(t, dir, "server", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "confcenterd"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	writeCert(t, dir, "client", &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "go-client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	creds := Credentials{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"),
		KeyFile: filepath.Join(dir, "client.key")}
	s := startServerWith(t, creds, "--tls_cert="+filepath.Join(dir, "server.pem"),
		"--tls_key="+filepath.Join(dir, "server.key"), "--tls_client_ca="+filepath.Join(dir, "ca.pem"),
		"--tls_client_auth=require")
	s.register(t, "feat", "svc")
	rev := s.put(t, "feat", "svc", "a", "1")
	sub, err := Subscribe(context.Background(), s.conn, Options{Tenant: "feat", Services: []string{"svc"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if !sub.WaitForRevision(rev, 30*time.Second) || sub.String("svc", "a", "") != "1" {
		t.Fatalf("no snapshot over mutual TLS: %v", sub.LastError())
	}

	// Without the client certificate the server refuses the connection.
	noCert, err := Dial(s.address, Credentials{CAFile: creds.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	refused, err := Subscribe(context.Background(), noCert, Options{Tenant: "feat", MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	if !eventually(func() bool { return status.Code(refused.LastError()) == codes.Unavailable }) || !refused.Stale() {
		t.Errorf("without a client certificate: %v", refused.LastError())
	}
	if refused.WaitForRevision(rev, 300*time.Millisecond) {
		t.Error("a view without a client certificate")
	}

	// Credentials that cannot be used are refused by Dial.
	if _, err := Dial(s.address, Credentials{CertFile: creds.CertFile}); err == nil {
		t.Error("Dial with a certificate and no key succeeded")
	}
	if _, err := Dial(s.address, Credentials{CAFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Error("Dial with a missing CA file succeeded")
	}
}
