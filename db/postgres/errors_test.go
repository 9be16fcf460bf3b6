package postgres_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/postgres"
	"github.com/hookrelay/hookrelay/internal/pgtest"
)

// proxy forwards TCP connections to a PostgreSQL server until it is cut, which looks to the
// store like a server that stopped: open connections break and new ones are refused.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// newProxy starts a proxy in front of the server of rawURL and returns it with the URL that
// goes through it.
func newProxy(t *testing.T, rawURL string) (*proxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln}
	target := u.Host
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(s, c); s.Close() })
			p.wg.Go(func() { io.Copy(c, s); c.Close() })
		}
	})
	t.Cleanup(p.cut)
	u.Host = ln.Addr().String()
	return p, u.String()
}

// cut stops accepting and breaks every connection.
func (p *proxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// A server that cannot be reached, or stops answering, gives errors that wrap
// db.ErrUnavailable, so that callers answer "try again later".
func TestUnreachableServerIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	p, through := newProxy(t, pgtest.URL(t))
	s := open(t, through, postgres.Options{})
	wh := webhook(t, s, "https://wh.test/hook")
	p.cut()

	_, err := s.FindWebhook(ctx, wh.ID)
	assert.ErrorIs(t, err, db.ErrUnavailable)
	_, err = s.CreateEvents(ctx, []db.NewEvent{{Type: "a.b", Data: []byte(`{}`)}})
	assert.ErrorIs(t, err, db.ErrUnavailable)
	_, err = s.ClaimDue(ctx, []db.ClaimRequest{{WebhookID: wh.ID, Limit: 1}}, time.Minute)
	assert.ErrorIs(t, err, db.ErrUnavailable)
	assert.ErrorIs(t, s.Ping(ctx), db.ErrUnavailable)
	assert.NotErrorIs(t, err, db.ErrClosed)

	_, err = postgres.Open(ctx, through, postgres.Options{})
	assert.ErrorIs(t, err, db.ErrUnavailable, "opening a server that is down")
}

// A deadline that passes while every connection is busy means the store cannot serve now.
func TestDeadlineWaitingForAConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := pgtest.URL(t)
	s := open(t, url, postgres.Options{MaxConns: 1})
	watcher := open(t, url, postgres.Options{})
	busy := make(chan error, 1)
	go func() { busy <- s.ExecForTest(ctx, `SELECT pg_sleep(2)`) }()
	for {
		n, err := watcher.QueryIntForTest(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'`)
		require.NoError(t, err)
		if n > 0 {
			break
		}
		select {
		case err := <-busy:
			t.Fatalf("the sleep ended early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := s.ListWebhooks(short)
	assert.ErrorIs(t, err, db.ErrUnavailable)
	require.NoError(t, <-busy)

	gone, cancelGone := context.WithCancel(ctx)
	cancelGone()
	_, err = s.ListWebhooks(gone)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, db.ErrUnavailable, "the caller gave up; the store is fine")
}

// Calls after Close return db.ErrClosed, which is also unavailable.
func TestClosedStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{})
	require.NoError(t, err)
	wh, err := s.CreateWebhook(ctx, db.NewWebhook{URL: "https://wh.test/hook", EventTypes: []string{"*"}, Secret: secret, Enabled: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "closing twice is harmless")

	_, err = s.FindWebhook(ctx, wh.ID)
	assert.ErrorIs(t, err, db.ErrClosed)
	_, err = s.CreateEvents(ctx, []db.NewEvent{{Type: "a.b", Data: []byte(`{}`)}})
	assert.ErrorIs(t, err, db.ErrClosed)
	_, err = s.RecordAndClaim(ctx, nil, []db.ClaimRequest{{WebhookID: wh.ID, Limit: 1}}, time.Minute)
	assert.ErrorIs(t, err, db.ErrClosed)
	_, _, err = s.ListDeliveries(ctx, db.DeliveryFilter{})
	assert.ErrorIs(t, err, db.ErrClosed)
	assert.ErrorIs(t, s.Ping(ctx), db.ErrClosed)
	assert.True(t, db.Unavailable(err))
}

// Uniqueness violations wrap db.ErrConflict; missing rows are db.ErrNotFound.
func TestConflictAndNotFound(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := newStore(t)
	_, err := s.CreateUser(ctx, "a@b.test", "h")
	require.NoError(t, err)
	_, err = s.CreateUser(ctx, "A@B.TEST", "h")
	assert.ErrorIs(t, err, db.ErrUserExists)
	assert.ErrorIs(t, err, db.ErrConflict)

	_, err = s.FindWebhook(ctx, "whk_missing")
	assert.ErrorIs(t, err, db.ErrNotFound)
	_, err = s.FindDelivery(ctx, "dlv_missing")
	assert.ErrorIs(t, err, db.ErrNotFound)
	assert.ErrorIs(t, s.DeleteWebhook(ctx, "whk_missing"), db.ErrNotFound)
	_, err = s.FindSession(ctx, "nope")
	assert.ErrorIs(t, err, db.ErrNotFound)
	assert.False(t, errors.Is(err, db.ErrUnavailable))
}

// Bad input is refused with an error, never a panic: a URL that is not PostgreSQL's, or a
// key of the wrong size.
func TestOpenRefusesBadInput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, err := postgres.Open(ctx, "", postgres.Options{})
	assert.Error(t, err)
	_, err = postgres.Open(ctx, "postgres://%zz", postgres.Options{})
	assert.Error(t, err)
	_, err = postgres.Open(ctx, "postgres://127.0.0.1:1/x", postgres.Options{EncryptionKey: []byte("short")})
	assert.ErrorContains(t, err, "encryption key must be 32 bytes")
}
