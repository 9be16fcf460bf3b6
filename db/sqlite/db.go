package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookrelay/hookrelay/db"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Options tune how the database is opened.
type Options struct {
	// Sync is "normal" (the default: a commit survives a process crash, and the last commits
	// may be lost on power failure) or "full" (fsync on every commit group).
	Sync string
	// Checkpoints is CheckpointWriter (the default) or CheckpointBackground; see checkpoint.go.
	Checkpoints string
	// Readers is the size of the read-only connection pool (default 4).
	Readers int
	// MaxGroup caps how many writes share one transaction (default 256).
	MaxGroup int
	// EncryptionKey, when set, is the AES-256 key (EncryptionKeySize bytes) that webhook
	// signing secrets are encrypted with at rest. Open encrypts secrets stored before a key
	// was set, and fails with ErrEncryptionKeyWrong for a key that does not decrypt the
	// stored ones, or ErrEncryptionKeyRequired when they are encrypted and no key is given.
	EncryptionKey []byte
	// WALLimit is the size in bytes the write-ahead log is cut back to each time it starts
	// over after a checkpoint (journal_size_limit; default DefaultWALLimit). Without it the
	// file keeps the size of the largest burst it ever held.
	WALLimit int64
}

// DefaultWALLimit is Options.WALLimit's default: 64 MiB.
const DefaultWALLimit = 64 << 20

// DB is hookrelay's store. It keeps two pools on one SQLite file: a single writer connection
// fed by a group-commit loop, and a pool of read-only connections. All SQL of the
// application lives in this package.
type DB struct {
	// Clock stamps every write (see Now). Tests replace it before the first call.
	Clock func() time.Time

	writer *sql.DB
	reader *sql.DB
	// checkpointer copies the log into the database file off the writer (nil: the writer
	// does, SQLite's way); see checkpointLoop.
	checkpointer *sql.DB
	committed    chan struct{} // a commit has grown the log
	restartLog   atomic.Bool   // the writer should finish a checkpoint between groups
	// Writer statements, touched only by the write loop; nil until prepared.
	stmts      map[string]*sql.Stmt
	unprepared bool
	targets    map[string]*claimTarget // by webhook id; see claimTarget
	bodies     *bodyCache              // recently claimed events; see bodyCache
	ops        chan *writeOp
	quit       chan struct{}
	wg         sync.WaitGroup
	once       sync.Once
	closed     atomic.Bool

	box      *db.SecretBox // nil: secrets are stored as they are
	patterns sync.Map      // raw event_types JSON -> []string
	onDue    atomic.Pointer[func([]string)]
	onAlert  atomic.Pointer[func()] // see OnAlertQueued
}

// Open opens (creating if needed) the database at path, applies pending migrations and
// starts the write loop. Close stops it.
func Open(ctx context.Context, path string, o Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	sync := "NORMAL"
	switch strings.ToLower(o.Sync) {
	case "", "normal":
	case "full":
		sync = "FULL"
	default:
		return nil, fmt.Errorf("open database: unknown sync mode %q (want normal or full)", o.Sync)
	}
	switch o.Checkpoints {
	case "":
		o.Checkpoints = CheckpointWriter
	case CheckpointWriter, CheckpointBackground:
	default:
		return nil, fmt.Errorf("open database: unknown checkpoint mode %q (want %s or %s)", o.Checkpoints, CheckpointWriter, CheckpointBackground)
	}
	if o.Readers <= 0 {
		o.Readers = 4
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = 256
	}
	if o.WALLimit <= 0 {
		o.WALLimit = DefaultWALLimit
	}
	box, err := db.NewSecretBox(o.EncryptionKey)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", translate(err))
	}
	// busy_timeout comes first so that the pragmas after it already wait for locks.
	// temp_store(memory) keeps statement journals and sorts off the disk.
	base := "file:" + escapePath(path) + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(" + sync + ")&_pragma=temp_store(memory)" +
		"&_pragma=journal_size_limit(" + strconv.FormatInt(o.WALLimit, 10) + ")"
	writer, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open database writer: %w", translate(err))
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := useIncrementalVacuum(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	if err := secureSecrets(ctx, writer, box); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open database: webhook secrets: %w", translate(err))
	}
	var checkpointer *sql.DB
	if o.Checkpoints == CheckpointBackground {
		if checkpointer, err = backgroundCheckpoints(ctx, writer, base); err != nil {
			writer.Close()
			return nil, err
		}
	}
	reader, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		closeIf(checkpointer)
		return nil, fmt.Errorf("open database reader: %w", translate(err))
	}
	reader.SetMaxOpenConns(o.Readers)
	reader.SetMaxIdleConns(o.Readers)
	if err := reader.PingContext(ctx); err != nil {
		writer.Close()
		closeIf(checkpointer)
		reader.Close()
		return nil, fmt.Errorf("open database reader: %w", translate(err))
	}
	s := &DB{
		Clock:        time.Now,
		box:          box,
		writer:       writer,
		reader:       reader,
		checkpointer: checkpointer,
		committed:    make(chan struct{}, 1),
		stmts:        map[string]*sql.Stmt{},
		targets:      map[string]*claimTarget{},
		bodies:       newBodyCache(8 << 20),
		ops:          make(chan *writeOp),
		quit:         make(chan struct{}),
	}
	s.wg.Go(func() { s.writeLoop(o.MaxGroup) })
	if checkpointer != nil {
		s.wg.Go(s.checkpointLoop)
	}
	return s, nil
}

// escapePath keeps '?' and '#' in a file name from being read as the start of the DSN's query.
func escapePath(p string) string {
	return strings.NewReplacer("?", "%3f", "#", "%23").Replace(p)
}

// Close stops the write loop, waiting for the group in progress, and closes both pools.
func (s *DB) Close() error {
	var err error
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.quit)
		s.wg.Wait()
		for _, st := range s.stmts {
			if st != nil {
				st.Close()
			}
		}
		err = errors.Join(s.reader.Close(), closeIf(s.checkpointer), s.writer.Close())
	})
	return err
}

// Ping reports whether both pools answer a query.
func (s *DB) Ping(ctx context.Context) error {
	var n int
	if err := s.reader.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return fmt.Errorf("ping reader: %w", s.translate(err))
	}
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("ping writer: %w", s.translate(err))
	}
	return nil
}

// OnDue registers fn to be called after a commit that made deliveries of the given webhooks
// due (new events, manual retries, a webhook enabled, rescued leases). A nil slice means
// "any webhook may have due work". fn runs on the write loop, so it must not block.
func (s *DB) OnDue(fn func(webhookIDs []string)) {
	s.onDue.Store(&fn)
}

func (s *DB) notifyDue(ids []string) {
	if fn := s.onDue.Load(); fn != nil {
		(*fn)(ids)
	}
}

// Now is the store's clock in UTC: what every write is stamped with.
func (s *DB) Now() time.Time { return s.Clock().UTC() }

// translate is the store's translate: once the store is closed, every error is db.ErrClosed
// (database/sql's own "database is closed" is not an error callers can recognise).
func (s *DB) translate(err error) error {
	if err != nil && s.closed.Load() {
		return fmt.Errorf("%w: %w", db.ErrClosed, err)
	}
	return translate(err)
}

// translate classifies a driver error once, for every caller above the store: no rows is
// db.ErrNotFound, a uniqueness violation wraps db.ErrConflict, and a database that cannot be
// used now wraps db.ErrUnavailable (see unavailable). It is idempotent, so every method
// passes the errors it returns through it.
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return db.ErrNotFound
	case errors.Is(err, db.ErrNotFound), errors.Is(err, db.ErrConflict), errors.Is(err, db.ErrUnavailable):
		return err
	case unavailable(err):
		return fmt.Errorf("%w: %w", db.ErrUnavailable, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", db.ErrConflict, err)
		}
	}
	return err
}

// millis and fromMillis convert between Go times and the INTEGER unix milliseconds stored.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func fromNullMillis(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMillis(n.Int64)
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullInt(n int) sql.NullInt64 { return sql.NullInt64{Int64: int64(n), Valid: n != 0} }

func nullRetryAfter(d time.Duration) sql.NullInt64 {
	s := db.RetryAfterSeconds(d)
	return sql.NullInt64{Int64: s, Valid: s != 0}
}
