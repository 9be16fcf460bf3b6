package postgres

import (
	"context"
	"strings"
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
