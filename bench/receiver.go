package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/webhook"
)

// receiver is one webhook's endpoint: an HTTP server on its own 127.0.0.1 port (as distinct
// receivers would be, so that the server's per-host connection limit applies per webhook)
// that counts deliveries, de-duplicates them by webhook-id, and records for each first
// arrival the latency from the send timestamp in the event's data.
type receiver struct {
	URL string
	// Slow makes every request wait this long before it is answered (scenario e).
	Slow time.Duration

	secret   string
	clock    func() time.Time
	timeline *timeline
	srv      *http.Server
	ln       net.Listener
	gate     atomic.Pointer[chan struct{}] // non-nil: requests wait until it is closed
	bufs     sync.Pool

	mu        sync.Mutex
	seen      map[string]struct{}
	latencies []int64 // ns from send to first arrival, one per unique delivery
	dups      int64
	badSig    int64
	noSent    int64
	verified  bool
	serveErr  error

	unique atomic.Int64
	// failing makes the receiver answer 500 to everything, counting nothing but attempts
	// (scenario r's dead receiver).
	failing  atomic.Bool
	attempts atomic.Int64
	lastNew  atomic.Int64 // unix ns of the latest first arrival
}

// newReceiver listens on 127.0.0.1:0. Signatures are checked on the first delivery only:
// checking each would cost the harness CPU the server needs, and one proves the wiring.
func newReceiver(secret string, clock func() time.Time, tl *timeline) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{
		URL: "http://" + ln.Addr().String() + "/hook", secret: secret, clock: clock, timeline: tl,
		ln: ln, seen: map[string]struct{}{},
	}
	r.bufs.New = func() any { return new(bytes.Buffer) }
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	return r, nil
}

// serve runs the HTTP server until close.
func (r *receiver) serve() {
	if err := r.srv.Serve(r.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		r.mu.Lock()
		r.serveErr = err
		r.mu.Unlock()
	}
}

func (r *receiver) close(ctx context.Context) {
	r.release()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.srv.Close()
	}
}

// pause makes requests wait, unanswered, until release (or until the server gives up on them,
// in which case they count for nothing and the server will try again).
func (r *receiver) pause() {
	ch := make(chan struct{})
	r.gate.Store(&ch)
}

func (r *receiver) release() {
	if ch := r.gate.Swap(nil); ch != nil {
		close(*ch)
	}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	buf := r.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer r.bufs.Put(buf)
	if _, err := buf.ReadFrom(io.LimitReader(req.Body, 4<<20)); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.Slow > 0 {
		t := time.NewTimer(r.Slow)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return
		}
	}
	if gate := r.gate.Load(); gate != nil {
		select {
		case <-*gate:
		case <-req.Context().Done():
			return
		}
	}
	r.attempts.Add(1)
	if r.failing.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	now := r.clock()
	id := req.Header.Get(webhook.HeaderID)
	sent, ok := sentAt(buf.Bytes())
	r.mu.Lock()
	if !r.verified {
		r.verified = true
		v, err := webhook.NewVerifier(r.secret)
		if err == nil {
			v.Now = func() time.Time { return now }
			err = v.Verify(req.Header, buf.Bytes())
		}
		if err != nil {
			r.badSig++
		}
	}
	if _, dup := r.seen[id]; dup {
		r.dups++
	} else {
		r.seen[id] = struct{}{}
		if ok {
			r.latencies = append(r.latencies, now.UnixNano()-sent)
		} else {
			r.noSent++
		}
		r.unique.Add(1)
		r.lastNew.Store(now.UnixNano())
		r.timeline.add(now)
	}
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// sentKey is how the load generator marks the send time in an event's data.
var sentKey = []byte(`"sent":`)

// sentAt finds "sent":<ns> in a delivered body without decoding it all: the receivers share
// the CPU with the server under test, so they must be cheap.
func sentAt(body []byte) (int64, bool) {
	i := bytes.Index(body, sentKey)
	if i < 0 {
		return 0, false
	}
	rest := body[i+len(sentKey):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n, err == nil
}

// tally is what a receiver saw, checked against the events the server accepted.
type tally struct {
	Expected, Delivered, Lost, Duplicates, Unexpected, BadSignatures, Unstamped int64
}

// check compares the receiver's de-duplicated deliveries with the accepted event ids: an
// accepted id never seen is lost; a seen id never accepted is unexpected (an ingest whose
// answer the load generator did not get, or a bug).
func (r *receiver) check(accepted []string) tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := tally{Expected: int64(len(accepted)), Duplicates: r.dups, BadSignatures: r.badSig, Unstamped: r.noSent}
	for _, id := range accepted {
		if _, ok := r.seen[id]; ok {
			t.Delivered++
		} else {
			t.Lost++
		}
	}
	t.Unexpected = int64(len(r.seen)) - t.Delivered
	return t
}

// takeLatencies returns the recorded latencies (ns); the receiver keeps none afterwards.
func (r *receiver) takeLatencies() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.latencies
	r.latencies = nil
	return l
}

func (t *tally) add(o tally) {
	t.Expected += o.Expected
	t.Delivered += o.Delivered
	t.Lost += o.Lost
	t.Duplicates += o.Duplicates
	t.Unexpected += o.Unexpected
	t.BadSignatures += o.BadSignatures
	t.Unstamped += o.Unstamped
}

// timeline counts events per second since a start time, for the sustained-rate view.
type timeline struct {
	start time.Time
	slots []atomic.Int64
}

func newTimeline(start time.Time, span time.Duration) *timeline {
	return &timeline{start: start, slots: make([]atomic.Int64, int(span/time.Second)+1)}
}

func (t *timeline) add(at time.Time) {
	i := int(at.Sub(t.start) / time.Second)
	if i >= 0 && i < len(t.slots) {
		t.slots[i].Add(1)
	}
}

// counts returns the per-second counts up to d after the start.
func (t *timeline) counts(d time.Duration) []int64 {
	n := min(int(d/time.Second)+1, len(t.slots))
	out := make([]int64, n)
	for i := range out {
		out[i] = t.slots[i].Load()
	}
	return out
}

// dupCount is how many deliveries arrived again after their first arrival.
func (r *receiver) dupCount() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dups
}
