package confcenter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Credentials say how the client proves who it is to confcenterd and checks that it talks to
// the right server: TLS (the server verified against a CA, optionally a client certificate
// for mutual TLS) and/or a bearer token sent as `authorization: Bearer <token>` on every
// call. A token is sent on plaintext connections too: set CAFile whenever the server is not
// on this host.
type Credentials struct {
	// PEM file of the CA certificates the server's certificate must chain to. Set: TLS on.
	CAFile string
	// PEM files of this client's certificate and key, for mutual TLS (both or neither;
	// they need CAFile).
	CertFile string
	KeyFile  string
	// The name to check the server's certificate against instead of the address's host.
	ServerName string
	// A bearer token; takes precedence over TokenFile.
	Token string
	// A file holding the bearer token (surrounding whitespace ignored), read again for
	// every stream, so a rotated token is picked up at the next reconnect.
	TokenFile string
}

// CredentialsFromEnvironment reads CONFCENTER_CA, CONFCENTER_CERT, CONFCENTER_KEY,
// CONFCENTER_TOKEN and CONFCENTER_TOKEN_FILE. Unset variables leave fields empty; no file
// is read yet.
func CredentialsFromEnvironment() Credentials {
	return Credentials{
		CAFile:    os.Getenv("CONFCENTER_CA"),
		CertFile:  os.Getenv("CONFCENTER_CERT"),
		KeyFile:   os.Getenv("CONFCENTER_KEY"),
		Token:     os.Getenv("CONFCENTER_TOKEN"),
		TokenFile: os.Getenv("CONFCENTER_TOKEN_FILE"),
	}
}

// TLS reports whether the credentials turn TLS on (CAFile set).
func (c Credentials) TLS() bool { return c.CAFile != "" }

// TransportCredentials are the TLS credentials of c (reading its PEM files now), or nil
// when c has no CAFile (plaintext).
func (c Credentials) TransportCredentials() (credentials.TransportCredentials, error) {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("confcenter: CertFile and KeyFile must be given together")
	}
	if !c.TLS() {
		if c.CertFile != "" || c.ServerName != "" {
			return nil, errors.New("confcenter: CertFile, KeyFile and ServerName need CAFile")
		}
		return nil, nil
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("confcenter: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("confcenter: CA file %s holds no PEM certificate", c.CAFile)
	}
	config := &tls.Config{RootCAs: pool, ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("confcenter: client certificate: %w", err)
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(config), nil
}

// token returns the bearer token to send now ("" for none): Token, or TokenFile read
// afresh. A TokenFile that cannot be read, or is empty, is an UNAUTHENTICATED error naming
// it (the call is not made).
func (c Credentials) token() (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	if c.TokenFile == "" {
		return "", nil
	}
	data, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", status.Errorf(codes.Unauthenticated, "token file %s: %v", c.TokenFile, err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", status.Errorf(codes.Unauthenticated, "token file %s is empty", c.TokenFile)
	}
	return tok, nil
}

// outgoing adds the call metadata (token, user) to ctx.
func outgoing(ctx context.Context, creds Credentials, user string) (context.Context, error) {
	tok, err := creds.token()
	if err != nil {
		return ctx, err
	}
	var kv []string
	if tok != "" {
		kv = append(kv, "authorization", "Bearer "+tok)
	}
	if user != "" {
		kv = append(kv, "x-confcenter-user", user)
	}
	if len(kv) == 0 {
		return ctx, nil
	}
	return metadata.AppendToOutgoingContext(ctx, kv...), nil
}

// tokenCredentials is a grpc.PerRPCCredentials sending the bearer token of Credentials on
// every call (the token file read afresh each time).
type tokenCredentials struct {
	creds Credentials
	user  string
}

func (t tokenCredentials) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	md := map[string]string{}
	tok, err := t.creds.token()
	if err != nil {
		return nil, err
	}
	if tok != "" {
		md["authorization"] = "Bearer " + tok
	}
	if t.user != "" {
		md["x-confcenter-user"] = t.user
	}
	return md, nil
}

func (tokenCredentials) RequireTransportSecurity() bool { return false }

// DialOptions tune Dial.
type DialOptions struct {
	// Reconnect back-off of the connection: the first retry after BaseDelay, growing to
	// MaxDelay. Defaults 100 ms and 2 s (grpc-go's own, 1 s to 120 s, would keep a
	// subscription waiting up to two minutes after a server restart).
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// A keepalive ping after KeepaliveTime without activity (also between calls), the
	// connection closed if unanswered within KeepaliveTimeout: a server that vanished without
	// a TCP reset is noticed in seconds and the subscription resumes. Defaults 30 s and 10 s
	// (confcenterd refuses pings more frequent than every 5 s); negative: no pings.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// Sent as x-confcenter-user on every call made through the connection. Empty: none.
	User string
	// More grpc dial options, applied last.
	Extra []grpc.DialOption
}

// Dial connects (lazily: it does not wait for the server) to confcenterd at address
// ("host:port") with creds: TLS when creds.CAFile is set, the bearer token on every call
// made through the connection (a token file is read afresh for every call, so every
// reconnect sends the current token), and the protobuf codec the generated clients need.
// Give the token either here or in Options.Credentials of a Subscription, not both: both
// would send it twice.
func Dial(address string, creds Credentials, options ...DialOptions) (*grpc.ClientConn, error) {
	var o DialOptions
	if len(options) > 0 {
		o = options[0]
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = 100 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 2 * time.Second
	}
	if o.KeepaliveTime == 0 {
		o.KeepaliveTime = 30 * time.Second
	}
	if o.KeepaliveTimeout <= 0 {
		o.KeepaliveTimeout = 10 * time.Second
	}
	tc, err := creds.TransportCredentials()
	if err != nil {
		return nil, err
	}
	bc := backoff.DefaultConfig
	bc.BaseDelay = o.BaseDelay
	bc.MaxDelay = o.MaxDelay
	opts := []grpc.DialOption{
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bc, MinConnectTimeout: 5 * time.Second}),
		grpc.WithDefaultCallOptions(CodecCallOption()),
	}
	if o.KeepaliveTime > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: o.KeepaliveTime, Timeout: o.KeepaliveTimeout, PermitWithoutStream: true,
		}))
	}
	if tc != nil {
		opts = append(opts, grpc.WithTransportCredentials(tc))
	} else {
		opts = append(opts, grpc.WithInsecure())
	}
	if creds.Token != "" || creds.TokenFile != "" || o.User != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCredentials{creds: creds, user: o.User}))
	}
	opts = append(opts, o.Extra...)
	return grpc.Dial(address, opts...)
}
