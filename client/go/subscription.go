package confcenter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"sort"
	"strings"
	"sync"
	"time"

	pb "confcenter.dev/client/go/confcenterpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// Options of a Subscription.
type Options struct {
	// The tenant whose resolved view to follow. Required.
	Tenant string
	// The services to follow; empty: every service.
	Services []string
	// Where the last good view is kept (written atomically after every change, mode 0600:
	// the view may hold secrets). Empty: no file. At start, a file written for the same
	// tenant and services is loaded and served, flagged stale, until the server answers;
	// the stream then resumes from its revision.
	CacheFile string
	// Reconnect back-off: starts at InitialBackoff, doubles up to MaxBackoff, each wait cut
	// by up to 50% at random. Defaults 100 ms and 10 s.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Sent as x-confcenter-user. Empty: none.
	User string
	// The bearer token sent on every stream (a TokenFile is read again for every stream).
	// The TLS fields are not used here: TLS is the connection's (see Dial). Leave the token
	// empty here when the connection already sends it (Dial with a token).
	Credentials Credentials
	// How the process names itself to the server.
	Instance InstanceOptions
	// At most one report of the applied revision per ReportInterval (default 1 s): the first
	// change after a quiet spell is reported at once, faster ones are coalesced.
	ReportInterval time.Duration
}

// Callback is called for a change of a watched key.
type Callback func(Change)

type watcher struct {
	id      int
	service string
	key     string
	prefix  bool
	fn      Callback
}

// Subscription is a live, thread-safe copy of a tenant's resolved view. It follows
// WatchService.Subscribe, resumes from the last revision after the stream breaks (never a
// gap, never a change twice), calls callbacks on changes, and keeps the last good view in
// a cache file to start from when the server cannot be reached. Close it when done.
type Subscription struct {
	opts      Options
	conn      grpc.ClientConnInterface
	watch     pb.WatchServiceClient
	instances pb.InstanceServiceClient
	info      *pb.InstanceInfo
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu       sync.Mutex
	view     map[Key]Value
	incoming map[Key]Value // snapshot parts received so far on this stream
	revision int64
	epoch    string
	// The stream spoke of another epoch than the view's: the next attempt asks for a
	// snapshot.
	restartWithSnapshot bool
	notified            int64 // callbacks have run up to here
	hasView             bool  // a snapshot or the cache was applied
	stale               bool
	caughtUp            bool // this stream delivered a snapshot or caught-up progress
	closed              bool
	lastErr             error
	streamOpen          bool // the stream has delivered a message (the server lists it)
	reported            int64
	reportDue           bool
	changed             chan struct{} // closed (and replaced) when the state above changes

	cbMu     sync.Mutex // held while callbacks run
	watchers []*watcher
	nextID   int
}

// ErrNoTenant is returned by Subscribe when Options.Tenant is empty.
var ErrNoTenant = errors.New("confcenter: Options.Tenant is required")

// Subscribe starts following the view of opts.Tenant over conn (see Dial). It fails only
// for options it cannot use (no tenant): if the server is down it keeps retrying in the
// background, serving the cache file (if any) meanwhile. Errors retrying cannot fix soon
// (NOT_FOUND: no such tenant yet, INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED) are
// kept as LastError and retried at MaxBackoff. Cancelling ctx stops the subscription as
// Close does (Close must still be called to wait for it).
func Subscribe(ctx context.Context, conn grpc.ClientConnInterface, opts Options) (*Subscription, error) {
	if opts.Tenant == "" {
		return nil, ErrNoTenant
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.MaxBackoff < opts.InitialBackoff {
		opts.MaxBackoff = opts.InitialBackoff
	}
	if opts.ReportInterval == 0 {
		opts.ReportInterval = time.Second
	}
	opts.Services = append([]string(nil), opts.Services...)
	s := &Subscription{
		opts:      opts,
		conn:      conn,
		watch:     pb.NewWatchServiceClient(conn),
		instances: pb.NewInstanceServiceClient(conn),
		view:      map[Key]Value{},
		stale:     true,
		changed:   make(chan struct{}),
		lastErr:   status.Error(codes.Unavailable, "not connected yet"),
	}
	if !opts.Instance.Disabled {
		s.info = makeInstanceInfo(opts)
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	if opts.CacheFile != "" {
		// A missing, damaged or foreign file: start without it, as if there were none.
		if view, rev, epoch, err := loadCache(opts.CacheFile, opts.Tenant, opts.Services); err == nil {
			s.view, s.revision, s.epoch, s.hasView = view, rev, epoch, true
		}
	}
	s.wg.Add(1)
	go s.run()
	if s.info != nil {
		s.wg.Add(1)
		go s.reportLoop()
	}
	return s, nil
}

// Close stops the stream and waits for the subscription's goroutines. No callback runs
// after it returns. It must not be called from a callback.
func (s *Subscription) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.signal()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// signal wakes the waiters on the state. s.mu must be held.
func (s *Subscription) signal() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// sleep waits d or until the subscription stops; false if it stopped.
func (s *Subscription) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// slowCode: an error that will not heal by itself soon, retried at MaxBackoff.
func slowCode(c codes.Code) bool {
	return c == codes.NotFound || c == codes.InvalidArgument || c == codes.Unauthenticated ||
		c == codes.PermissionDenied
}

func (s *Subscription) run() {
	defer s.wg.Done()
	defer func() {
		// Stopped by Close or by the context: waiters give up.
		s.mu.Lock()
		if !s.closed {
			s.closed = true
			s.signal()
		}
		s.mu.Unlock()
	}()
	backoff := s.opts.InitialBackoff
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for {
		err := s.stream(&backoff)
		st := status.Convert(err)
		if err == io.EOF || err == nil {
			st = status.New(codes.Unavailable, "the stream ended")
		}
		s.mu.Lock()
		s.streamOpen = false
		// The next stream may be on a restarted server, which has not heard what this
		// instance applied: report it again.
		s.reportDue = true
		s.stale = true
		s.lastErr = st.Err()
		s.signal()
		closed := s.closed
		s.mu.Unlock()
		if closed || s.ctx.Err() != nil {
			return
		}
		wait := backoff
		if slowCode(st.Code()) {
			wait = s.opts.MaxBackoff
		}
		wait = time.Duration(float64(wait) * (0.5 + 0.5*rng.Float64()))
		if !s.sleep(wait) {
			return
		}
		backoff *= 2
		if backoff > s.opts.MaxBackoff {
			backoff = s.opts.MaxBackoff
		}
	}
}

// stream runs one Subscribe stream until it ends; its error (io.EOF: ended by the server).
func (s *Subscription) stream(backoff *time.Duration) error {
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	ctx, err := outgoing(ctx, s.opts.Credentials, s.opts.User)
	if err != nil {
		return err // without the token, no call: fails as the server would have
	}
	req := &pb.SubscribeRequest{Tenant: s.opts.Tenant, Services: s.opts.Services, Instance: s.info}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return context.Canceled
	}
	if s.hasView && !s.restartWithSnapshot {
		// Resume: nothing missed, or a resync if the store was restored since.
		rev := s.revision
		req.StartRevision = &rev
		req.Epoch = s.epoch
	}
	s.restartWithSnapshot = false
	s.incoming = nil
	s.caughtUp = false
	s.mu.Unlock()
	// A connection waiting out grpc's own reconnect back-off would fail this attempt at
	// once: our back-off sets the pace, so connect now.
	if cc, ok := s.conn.(*grpc.ClientConn); ok && cc.GetState() == connectivity.TransientFailure {
		cc.ResetConnectBackoff()
	}
	stream, err := s.watch.Subscribe(ctx, req, CodecCallOption())
	if err != nil {
		return err
	}
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		changes, newEpoch, restart := s.apply(msg)
		if restart {
			return status.Error(codes.Aborted, "the stream's epoch differs from the view's: starting from a snapshot")
		}
		*backoff = s.opts.InitialBackoff // the server answered
		if len(changes) > 0 || newEpoch {
			s.saveCache()
			s.notify(changes)
		}
		s.mu.Lock()
		s.notified = s.revision // callbacks for it have run: waiters may go on
		s.streamOpen = true
		s.signal()
		s.mu.Unlock()
	}
}

func valueOf(e *pb.ResolvedEntry) Value {
	return Value{Value: e.GetValue(), ContentType: e.GetContentType(), SourceTenant: e.GetSourceTenant(),
		Revision: e.GetRevision(), GrayReleaseID: e.GetGrayReleaseId()}
}

// apply applies one message to the view; returns the changes for callbacks, whether the
// view moved to another epoch, and whether the stream must start again from a snapshot.
func (s *Subscription) apply(m *pb.SubscribeResponse) (changes []Change, newEpoch, restart bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kind := m.GetKind()
	if m.GetEpoch() != "" && m.GetEpoch() != s.epoch {
		if kind == pb.SubscribeResponseKind_SUBSCRIBE_RESPONSE_KIND_PROGRESS && s.epoch != "" {
			// Progress of another history than the view's: the view cannot be carried on
			// from here (the server resyncs a resume of another epoch itself; this guards
			// against one that did not).
			s.restartWithSnapshot = true
			return nil, false, true
		}
		if kind == pb.SubscribeResponseKind_SUBSCRIBE_RESPONSE_KIND_PROGRESS || m.GetSnapshotLast() {
			s.epoch = m.GetEpoch()
			newEpoch = true
		}
	}
	switch kind {
	case pb.SubscribeResponseKind_SUBSCRIBE_RESPONSE_KIND_SNAPSHOT:
		if s.incoming == nil {
			s.incoming = make(map[Key]Value, len(m.GetEntries()))
		}
		for _, e := range m.GetEntries() {
			s.incoming[Key{e.GetService(), e.GetKey()}] = valueOf(e)
		}
		if !m.GetSnapshotLast() {
			return nil, newEpoch, false
		}
		// A first snapshot or a resync: replace the view, report the differences.
		changes = diff(s.view, s.incoming, m.GetRevision())
		s.view = s.incoming
		s.incoming = nil
		s.revision = m.GetRevision()
		s.hasView = true
		s.caughtUp = true
	case pb.SubscribeResponseKind_SUBSCRIBE_RESPONSE_KIND_EVENTS:
		for _, e := range m.GetEvents() {
			k := Key{e.GetService(), e.GetKey()}
			c := Change{Service: k.Service, Key: k.Key, Revision: m.GetRevision()}
			if old, ok := s.view[k]; ok {
				c.Old = &old
			}
			if e.GetType() == pb.WatchEvent_TYPE_PUT {
				v := Value{Value: e.GetValue(), ContentType: e.GetContentType(), SourceTenant: e.GetSourceTenant(),
					Revision: e.GetEntryRevision(), GrayReleaseID: e.GetGrayReleaseId()}
				c.New = &v
				s.view[k] = v
			} else {
				delete(s.view, k)
			}
			changes = append(changes, c)
		}
		s.revision = m.GetRevision()
		s.hasView = true
	case pb.SubscribeResponseKind_SUBSCRIBE_RESPONSE_KIND_PROGRESS:
		if m.GetRevision() > s.revision {
			s.revision = m.GetRevision()
		}
		if !s.hasView {
			return nil, newEpoch, false // progress before any view says nothing about it
		}
		s.caughtUp = true // a resumed stream has replayed everything: it is live
	default:
		return nil, false, false
	}
	s.stale = !s.caughtUp
	s.lastErr = nil
	return changes, newEpoch, false
}

func (s *Subscription) notify(changes []Change) {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	for _, c := range changes {
		for _, w := range s.watchers {
			if w.service != "" && w.service != c.Service {
				continue
			}
			if w.prefix && strings.HasPrefix(c.Key, w.key) || !w.prefix && c.Key == w.key {
				w.fn(c)
			}
		}
	}
}

func (s *Subscription) saveCache() {
	if s.opts.CacheFile == "" {
		return
	}
	s.mu.Lock()
	if !s.hasView { // a revision without its view is no resume point
		s.mu.Unlock()
		return
	}
	// The view is replaced, never modified, by a snapshot, but events modify it: copy.
	view := make(map[Key]Value, len(s.view))
	for k, v := range s.view {
		view[k] = v
	}
	rev, epoch := s.revision, s.epoch
	s.mu.Unlock()
	// A failed write keeps the previous file; the next change tries again.
	_ = saveCache(s.opts.CacheFile, s.opts.Tenant, s.opts.Services, view, rev, epoch)
}

// OnChange calls fn for every change of key in service, or with prefix of every key that
// starts with key; an empty service matches every service. Callbacks run one at a time in
// revision order, on the subscription's goroutine, without the view's lock held (they may
// read the view). A resync (a fresh snapshot after a gap) calls them for the differences
// only. Callbacks must not call OnChange, RemoveCallback or Close. Returns an id for
// RemoveCallback.
func (s *Subscription) OnChange(service, key string, prefix bool, fn Callback) int {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	s.nextID++
	s.watchers = append(s.watchers, &watcher{id: s.nextID, service: service, key: key, prefix: prefix, fn: fn})
	return s.nextID
}

// RemoveCallback removes the callback id; once it returns the callback is not called again
// (it waits for a running callback to return).
func (s *Subscription) RemoveCallback(id int) {
	s.cbMu.Lock()
	defer s.cbMu.Unlock()
	kept := s.watchers[:0]
	for _, w := range s.watchers {
		if w.id != id {
			kept = append(kept, w)
		}
	}
	for i := len(kept); i < len(s.watchers); i++ {
		s.watchers[i] = nil
	}
	s.watchers = kept
}

// Get returns the current effective value of (service, key).
func (s *Subscription) Get(service, key string) (Value, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.view[Key{service, key}]
	return v, ok
}

// String returns the value of (service, key), or fallback if absent.
func (s *Subscription) String(service, key, fallback string) string {
	if v, ok := s.Get(service, key); ok {
		return v.Value
	}
	return fallback
}

// Int returns the value as a decimal integer, or fallback if absent or not one.
func (s *Subscription) Int(service, key string, fallback int64) int64 {
	if v, ok := s.Get(service, key); ok {
		if n, ok := ParseInt(v.Value); ok {
			return n
		}
	}
	return fallback
}

// Float returns the value as a number, or fallback if absent or not one.
func (s *Subscription) Float(service, key string, fallback float64) float64 {
	if v, ok := s.Get(service, key); ok {
		if f, ok := ParseFloat(v.Value); ok {
			return f
		}
	}
	return fallback
}

// Bool returns the value as true/false, yes/no, on/off or 1/0 (any case), or fallback if
// absent or none of these.
func (s *Subscription) Bool(service, key string, fallback bool) bool {
	if v, ok := s.Get(service, key); ok {
		if b, ok := ParseBool(v.Value); ok {
			return b
		}
	}
	return fallback
}

// Duration returns the value as a duration ("300ms", "1.5s", "2m", "1h30m"), or fallback
// if absent or not one.
func (s *Subscription) Duration(service, key string, fallback time.Duration) time.Duration {
	if v, ok := s.Get(service, key); ok {
		if d, ok := ParseDuration(v.Value); ok {
			return d
		}
	}
	return fallback
}

// JSON decodes the value as JSON into out (as json.Unmarshal). False, out untouched, if the
// key is absent or its value is not a JSON document; false too if the document does not
// fit out's type (out may then be partly filled).
func (s *Subscription) JSON(service, key string, out interface{}) bool {
	v, ok := s.Get(service, key)
	if !ok || !validJSON(v.Value) {
		return false
	}
	return json.Unmarshal([]byte(v.Value), out) == nil
}

// Endpoint returns where service's endpoint name (e.g. "grpc") is, as routed in this
// tenant's view: the reserved key "_endpoint.<name>" of the nearest tenant of the chain that
// registered the service. It follows the registry live; OnChange(service, "_endpoint.",
// true, ...) hears when the routing moves.
func (s *Subscription) Endpoint(service, name string) (string, bool) {
	v, ok := s.Get(service, "_endpoint."+name)
	return v.Value, ok
}

// Snapshot returns a copy of the whole view.
func (s *Subscription) Snapshot() map[Key]Value {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[Key]Value, len(s.view))
	for k, v := range s.view {
		out[k] = v
	}
	return out
}

// sortedKeys returns the keys of view ordered by (service, key).
func sortedKeys(view map[Key]Value) []Key {
	keys := make([]Key, 0, len(view))
	for k := range view {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Service != keys[j].Service {
			return keys[i].Service < keys[j].Service
		}
		return keys[i].Key < keys[j].Key
	})
	return keys
}

// SortedKeys returns the keys of a Snapshot ordered by (service, key).
func SortedKeys(view map[Key]Value) []Key { return sortedKeys(view) }

// Revision is the revision the view reflects (0 before any).
func (s *Subscription) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision
}

// AppliedRevision is the revision whose callbacks have all run (0 before any stream).
func (s *Subscription) AppliedRevision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notified
}

// Epoch is the store epoch the revision belongs to (empty until the server has said).
func (s *Subscription) Epoch() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// Stale is true while the view is not known to be current: served from the cache file,
// the stream is down, or a resumed stream is still replaying. False once the current
// stream has delivered a snapshot or said it has caught up.
func (s *Subscription) Stale() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stale
}

// LastError is the error of the last failed stream attempt (nil while connected), a gRPC
// status error (status.Code tells the code).
func (s *Subscription) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// InstanceID is the id this process names itself with (Options.Instance), "" if disabled.
func (s *Subscription) InstanceID() string {
	if s.info == nil {
		return ""
	}
	return s.info.GetInstanceId()
}

// ReportedRevision is the last applied revision the server acknowledged (0 before any).
func (s *Subscription) ReportedRevision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reported
}

// WaitForRevision waits until the view is at revision or later, is not stale, and the
// callbacks of the changes up to it have run; false if timeout passes first or the
// subscription is closed.
func (s *Subscription) WaitForRevision(revision int64, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		if s.notified >= revision && !s.stale {
			s.mu.Unlock()
			return true
		}
		if s.closed {
			s.mu.Unlock()
			return false
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return false
		}
	}
}

// reportLoop reports the applied revision (InstanceService.ReportInstance) once the stream
// is open, at most once per ReportInterval.
func (s *Subscription) reportLoop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		due := s.streamOpen && (s.notified != s.reported || s.reportDue)
		if !due {
			ch := s.changed
			s.mu.Unlock()
			select {
			case <-ch:
			case <-s.ctx.Done():
				return
			}
			continue
		}
		s.reportDue = false
		applied := s.notified
		s.mu.Unlock()
		err := s.report(applied)
		switch {
		case err == nil:
			s.mu.Lock()
			s.reported = applied
			s.mu.Unlock()
			if s.opts.ReportInterval > 0 && !s.sleep(s.opts.ReportInterval) {
				return
			}
		case status.Code(err) == codes.Unimplemented:
			return // an older server: it lists the stream without reports
		default:
			// E.g. the stream moved to a server that has not listed it yet: again soon.
			s.mu.Lock()
			s.reportDue = true
			s.mu.Unlock()
			if !s.sleep(time.Second) {
				return
			}
		}
	}
}

func (s *Subscription) report(applied int64) error {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	ctx, err := outgoing(ctx, s.opts.Credentials, s.opts.User)
	if err != nil {
		return err
	}
	_, err = s.instances.ReportInstance(ctx, &pb.ReportInstanceRequest{
		InstanceId: s.info.GetInstanceId(), Tenant: s.opts.Tenant, AppliedRevision: applied,
	}, CodecCallOption())
	return err
}
