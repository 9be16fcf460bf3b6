package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// listenerState is what the listener goroutine shares with the rest of the store.
type listenerState struct {
	pid        atomic.Uint32 // the listening connection's server process, for tests
	reconnects atomic.Int64  // connections made after the first, for tests
}

// Reconnect delays of the listener after its connection broke: doubling from the first to
// the last.
const (
	listenBackoffMin = 50 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// connectListener opens the listener's own connection (LISTEN holds a connection for as
// long as it listens, so it cannot come from the pool) and subscribes to both channels.
func (s *DB) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+dueChannel+`; LISTEN `+alertChannel); err != nil {
		closeQuietly(conn)
		return nil, err
	}
	s.listener.pid.Store(conn.PgConn().PID())
	return conn, nil
}

func closeQuietly(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

// listen calls this store's callbacks for the notifications of other instances until ctx
// is done. When the connection breaks it reconnects with backoff and then calls both
// callbacks as if everything were due: notifications sent meanwhile are lost, and the
// engine and alert sender catch up by asking the database.
func (s *DB) listen(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			closeQuietly(conn)
		}
	}()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err == nil {
			s.dispatch(n)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		closeQuietly(conn)
		if conn = s.reconnect(ctx); conn == nil {
			return
		}
		s.listener.reconnects.Add(1)
		s.notifyDue(nil)
		s.notifyAlertQueued()
	}
}

// reconnect connects the listener again, waiting longer after each failure; nil when ctx
// is done first.
func (s *DB) reconnect(ctx context.Context) *pgx.Conn {
	wait := listenBackoffMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := s.connectListener(cctx)
		cancel()
		if err == nil {
			return conn
		}
		wait = min(wait*2, listenBackoffMax)
	}
}

// dispatch calls the callback a notification is for, unless this store sent it.
func (s *DB) dispatch(n *pgconn.Notification) {
	tag, rest, _ := strings.Cut(n.Payload, " ")
	if tag == s.instance {
		return
	}
	switch n.Channel {
	case dueChannel:
		if rest == "*" || rest == "" {
			s.notifyDue(nil)
			return
		}
		s.notifyDue(strings.Split(rest, ","))
	case alertChannel:
		s.notifyAlertQueued()
	}
}

// announcer tells the other instances of ingested work, out of the ingest's transaction.
//
// A NOTIFY is sent with its transaction's commit, and PostgreSQL lets one notifying
// transaction commit at a time (it locks the notification queue from before the commit
// until after it). Sent with every ingest, that lock put every concurrent ingest in one line:
// 16 parallel callers stored fewer events a second than one (1,760 against 2,000; 2,500 to
// 3,200 without the NOTIFY). So ingest hands its webhooks to the announcer once committed,
// and the announcer sends them, however many ingests they came from, in one notification at
// a time. This instance's engine is told at once, as before; the others within a round trip.
// Should the process die between an ingest's commit and its notice, the other instances find
// the work when their engines next read the schedule from the database (the resync, every
// 2 s on PostgreSQL): later, never lost.
type announcer struct {
	mu      sync.Mutex
	pending map[string]struct{}
	kick    chan struct{}
}

func newAnnouncer() *announcer {
	return &announcer{pending: map[string]struct{}{}, kick: make(chan struct{}, 1)}
}

// add queues webhook ids for the next notice. It does not block.
func (a *announcer) add(ids []string) {
	a.mu.Lock()
	for _, id := range ids {
		a.pending[id] = struct{}{}
	}
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// take returns and forgets the queued ids.
func (a *announcer) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.pending) == 0 {
		return nil
	}
	ids := make([]string, 0, len(a.pending))
	for id := range a.pending {
		ids = append(ids, id)
	}
	clear(a.pending)
	return ids
}

// announceBackoff is how long the announcer waits after a notice failed before it tries
// again, with whatever has been queued since.
const announceBackoff = time.Second

// run sends the queued ids with send, all that are queued in one call, until ctx is done;
// then it sends what is left once more (the store's pool is still open then: Close waits
// for this before closing it). Ids that send fails with are queued again.
func (a *announcer) run(ctx context.Context, send func(context.Context, []string) error) {
	flush := func(ctx context.Context) error {
		ids := a.take()
		if ids == nil {
			return nil
		}
		if err := send(ctx, ids); err != nil {
			a.add(ids)
			return err
		}
		return nil
	}
	for ctx.Err() == nil {
		select {
		case <-a.kick:
		case <-ctx.Done():
			continue
		}
		if flush(ctx) != nil {
			// The database is away (and ingest with it); the notice waits.
			select {
			case <-time.After(announceBackoff):
			case <-ctx.Done():
			}
		}
	}
	fctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	flush(fctx)
}

// sendDue tells the other instances that the webhooks ids have due work.
func (s *DB) sendDue(ctx context.Context, ids []string) error {
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, dueChannel, s.duePayload(ids)); err != nil {
		return fmt.Errorf("notify due webhooks: %w", err)
	}
	return nil
}
