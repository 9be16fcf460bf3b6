// Package postgres is hookrelay's PostgreSQL store: several instances of the server share
// one database, each with its own pool, and every rule the SQLite store keeps holds across
// them. Claims lock rows with FOR UPDATE SKIP LOCKED, leases expire by the database's clock,
// a webhook's in-flight cap is counted in the database, and commits that make work due are
// announced to the other instances with NOTIFY.
//
// It uses github.com/jackc/pgx/v5 directly (not database/sql): the maintained native
// driver, with its own pool (pgxpool), LISTEN/NOTIFY on a dedicated connection, arrays for
// set-based statements, and COPY for bulk moves.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookrelay/hookrelay/db"
)

// Options tune how the database is opened.
type Options struct {
	// MaxConns is the most connections the pool opens (default 20). The listener that
	// receives other instances' notifications uses one more of its own.
	MaxConns int
	// EncryptionKey, when set, is the AES-256 key (db.EncryptionKeySize bytes) that webhook
	// signing secrets are encrypted with at rest. Open encrypts secrets stored before a key
	// was set, and fails with db.ErrEncryptionKeyWrong for a key that does not decrypt the
	// stored ones, or db.ErrEncryptionKeyRequired when they are encrypted and no key is
	// given.
	EncryptionKey []byte
}

// DB is hookrelay's store on PostgreSQL. All SQL of the application for PostgreSQL lives in
// this package.
type DB struct {
	// Clock stamps every write and decides what is due (see Now). Leases are the exception:
	// they are taken and expire by the database's clock, which every instance shares. Tests
	// replace it before the first call.
	Clock func() time.Time

	pool     *pgxpool.Pool
	box      *db.SecretBox // nil: secrets are stored as they are
	instance string        // tags this store's notifications, so its listener skips them
	patterns sync.Map      // raw event_types JSON -> []string

	targetsMu sync.Mutex
	targets   map[string]*claimTarget // by webhook public id; see claimTarget

	onDue   atomic.Pointer[func([]string)]
	onAlert atomic.Pointer[func()]

	closed    atomic.Bool
	stop      context.CancelFunc // stops the listener
	wg        sync.WaitGroup
	once      sync.Once
	listener  listenerState
	announcer *announcer // sends ingest's due notices; see announcer
}

// Open connects to the database at url (postgres://… or postgresql://…), applies pending
// migrations under an advisory lock, checks the webhook secrets against the key, and starts
// listening for other instances' notifications. Close stops it.
func Open(ctx context.Context, url string, o Options) (*DB, error) {
	if url == "" {
		return nil, errors.New("open database: empty URL")
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 20
	}
	box, err := db.NewSecretBox(o.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	cfg.MaxConns = int32(min(o.MaxConns, 1<<30))
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", classify(err))
	}
	s := &DB{
		Clock:     time.Now,
		pool:      pool,
		box:       box,
		instance:  randomTag(),
		targets:   map[string]*claimTarget{},
		announcer: newAnnouncer(),
	}
	if err := s.migrate(ctx, box); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	conn, err := s.connectListener(ctx)
	if err != nil {
		stop()
		pool.Close()
		return nil, fmt.Errorf("open database: listen for notifications: %w", classify(err))
	}
	s.stop = stop
	s.wg.Go(func() { s.listen(lctx, conn) })
	s.wg.Go(func() { s.announcer.run(lctx, s.sendDue) })
	return s, nil
}

func randomTag() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close stops the listener and the announcer, waiting for them, and closes the pool. Calls
// made after it return db.ErrClosed.
func (s *DB) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.stop()
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

// Ping reports whether the database answers a query.
func (s *DB) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", s.translate(err))
	}
	return nil
}

// Now is the store's clock in UTC: what every write is stamped with, and what due times are
// compared with.
func (s *DB) Now() time.Time { return s.Clock().UTC() }

// OnDue registers fn to be called after a commit, by this instance or another, that made
// deliveries of the given webhooks due (new events, manual retries, a webhook enabled,
// rescued leases). A nil slice means "any webhook may have due work": another instance sent
// too many ids to list, or the listener reconnected and may have missed notifications. fn
// runs on the committing goroutine or on the listener, so it must not block.
func (s *DB) OnDue(fn func(webhookIDs []string)) {
	s.onDue.Store(&fn)
}

func (s *DB) notifyDue(ids []string) {
	if fn := s.onDue.Load(); fn != nil {
		(*fn)(ids)
	}
}

// OnAlertQueued registers fn to be called after a commit, by this instance or another, that
// put failures in the alert outbox, so the sender need not poll. fn must not block.
func (s *DB) OnAlertQueued(fn func()) {
	s.onAlert.Store(&fn)
}

func (s *DB) notifyAlertQueued() {
	if fn := s.onAlert.Load(); fn != nil {
		(*fn)()
	}
}

// The database's clock in unix milliseconds: what leases are taken and checked with, so that
// instances whose clocks disagree still agree on when a lease ends. clock_timestamp, not
// now(), so that a transaction that waited for a lock does not take a lease that is already
// partly spent.
const dbNowMillis = `(floor(extract(epoch FROM clock_timestamp()) * 1000))::bigint`

// millis and fromMillis convert between Go times and the BIGINT unix milliseconds stored.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func nullMillis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func fromNullMillis(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return fromMillis(*ms)
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullInt(n int) *int64 {
	if n == 0 {
		return nil
	}
	v := int64(n)
	return &v
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func num(p *int64) int {
	if p == nil {
		return 0
	}
	return int(*p)
}

// rowScanner is a pgx.Row or pgx.Rows.
type rowScanner interface{ Scan(...any) error }

// queryer runs queries on the pool or in a transaction.
type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
