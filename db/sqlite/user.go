package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

const userColumns = `public_id, email, password_hash, created_at`

func scanUser(sc interface{ Scan(...any) error }) (db.User, error) {
	var (
		u       db.User
		created int64
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &created); err != nil {
		return db.User{}, translate(err)
	}
	u.CreatedAt = fromMillis(created)
	return u, nil
}

func (t *tx) insertUser(email, hash string, now time.Time) (db.User, error) {
	u := db.User{ID: db.NewID("usr"), Email: email, PasswordHash: hash, CreatedAt: now.Truncate(time.Millisecond)}
	_, err := t.exec(`INSERT INTO users (`+userColumns+`, updated_at) VALUES (?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, millis(now), millis(now))
	if err := translate(err); err != nil {
		if errors.Is(err, db.ErrConflict) {
			return db.User{}, db.ErrUserExists
		}
		return db.User{}, err
	}
	return u, nil
}

// CreateUser stores a new admin. The caller hashes the password. It returns ErrUserExists
// when the email is taken.
func (s *DB) CreateUser(ctx context.Context, email, passwordHash string) (db.User, error) {
	var u db.User
	err := s.write(ctx, func(t *tx) error {
		var err error
		u, err = t.insertUser(email, passwordHash, s.Now())
		return err
	})
	if err != nil {
		return db.User{}, fmt.Errorf("create user: %w", s.translate(err))
	}
	return u, nil
}

// CreateFirstUser stores an admin only when there is none yet, and reports whether it did.
// The check and the insert share one transaction, so two processes starting together
// create one admin between them.
func (s *DB) CreateFirstUser(ctx context.Context, email, passwordHash string) (bool, error) {
	created := false
	err := s.write(ctx, func(t *tx) error {
		var n int
		if err := t.queryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := t.insertUser(email, passwordHash, s.Now()); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("create first user: %w", s.translate(err))
	}
	return created, nil
}

// FindUserByEmail returns the admin with the given email, ignoring case.
func (s *DB) FindUserByEmail(ctx context.Context, email string) (db.User, error) {
	u, err := scanUser(s.reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if err != nil {
		return db.User{}, fmt.Errorf("find user by email: %w", s.translate(err))
	}
	return u, nil
}

// ListUserEmails returns every admin's email, oldest account first.
func (s *DB) ListUserEmails(ctx context.Context) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT email FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list user emails: %w", s.translate(err))
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("list user emails: %w", s.translate(err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list user emails: %w", s.translate(err))
	}
	return out, nil
}

// CountUsers returns how many admins exist.
func (s *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", s.translate(err))
	}
	return n, nil
}

// CreateSession starts a session of user userID under a fresh random id and removes
// sessions idle since before expiredBefore, so the table does not grow without bound.
// replaces, when not empty, is the id of the session the browser held until now: it is
// deleted, so an id known before sign-in is worthless after it.
func (s *DB) CreateSession(ctx context.Context, userID, replaces string, expiredBefore time.Time) (db.Session, error) {
	var sess db.Session
	err := s.write(ctx, func(t *tx) error {
		if replaces != "" {
			if _, err := t.exec(`DELETE FROM sessions WHERE id = ?`, db.HashToken(replaces)); err != nil {
				return err
			}
		}
		if _, err := t.exec(`DELETE FROM sessions WHERE last_seen_at < ?`, millis(expiredBefore)); err != nil {
			return err
		}
		u, err := scanUser(t.queryRow(`SELECT `+userColumns+` FROM users WHERE public_id = ?`, userID))
		if err != nil {
			return err
		}
		now := s.Now()
		sess = db.Session{ID: db.NewToken(), User: u, CreatedAt: now.Truncate(time.Millisecond), LastSeenAt: now.Truncate(time.Millisecond)}
		_, err = t.exec(`INSERT INTO sessions (id, user_id, created_at, last_seen_at)
			VALUES (?, (SELECT id FROM users WHERE public_id = ?), ?, ?)`, db.HashToken(sess.ID), userID, millis(now), millis(now))
		return err
	})
	if err != nil {
		return db.Session{}, fmt.Errorf("create session: %w", s.translate(err))
	}
	return sess, nil
}

// FindSession returns the session with the given id and its user.
func (s *DB) FindSession(ctx context.Context, id string) (db.Session, error) {
	var (
		sess          db.Session
		created, seen int64
		uc            int64
	)
	err := s.reader.QueryRowContext(ctx, `SELECT s.id, s.created_at, s.last_seen_at, u.public_id, u.email, u.password_hash, u.created_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`, db.HashToken(id)).
		Scan(new(string), &created, &seen, &sess.User.ID, &sess.User.Email, &sess.User.PasswordHash, &uc)
	if err != nil {
		return db.Session{}, fmt.Errorf("find session: %w", s.translate(err))
	}
	sess.ID = id
	sess.CreatedAt, sess.LastSeenAt, sess.User.CreatedAt = fromMillis(created), fromMillis(seen), fromMillis(uc)
	return sess, nil
}

// TouchSession records activity on a session now.
func (s *DB) TouchSession(ctx context.Context, id string) error {
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec(`UPDATE sessions SET last_seen_at = ? WHERE id = ?`, millis(s.Now()), db.HashToken(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", s.translate(err))
	}
	return nil
}

// DeleteSession ends a session; deleting one that does not exist is not an error.
func (s *DB) DeleteSession(ctx context.Context, id string) error {
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec(`DELETE FROM sessions WHERE id = ?`, db.HashToken(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", s.translate(err))
	}
	return nil
}

// Setting returns the stored value of a generated setting, creating it with value when it
// does not exist yet. Two processes racing get the same stored value.
func (s *DB) Setting(ctx context.Context, key string, value []byte) ([]byte, error) {
	var out []byte
	err := s.write(ctx, func(t *tx) error {
		if _, err := t.exec(`INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return t.queryRow(`SELECT value FROM settings WHERE key = ?`, key).Scan(&out)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = db.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", key, err)
	}
	return out, nil
}
