package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookrelay/hookrelay/db"
)

const (
	userColumns = `public_id, email, password_hash, role, disabled, must_change_password, created_at, updated_at`
	// sessionUserColumns are userColumns of the users table joined as u.
	sessionUserColumns = `u.public_id, u.email, u.password_hash, u.role, u.disabled, u.must_change_password, u.created_at, u.updated_at`
)

// leading scans a row's first columns into lead, then the rest as its caller expects.
type leading struct {
	sc   interface{ Scan(...any) error }
	lead []any
}

func (l leading) Scan(dest ...any) error { return l.sc.Scan(append(l.lead, dest...)...) }

func scanUser(sc interface{ Scan(...any) error }) (db.User, error) {
	var (
		u                db.User
		role             string
		created, updated int64
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &role, &u.Disabled, &u.MustChangePassword, &created, &updated); err != nil {
		return db.User{}, translate(err)
	}
	u.Role = db.Role(role)
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, nil
}

func (t *tx) insertUser(n db.NewUser, now time.Time) (db.User, error) {
	if !n.Role.ValidForUser() {
		return db.User{}, fmt.Errorf("invalid role %q", n.Role)
	}
	at := now.Truncate(time.Millisecond)
	u := db.User{ID: db.NewID("usr"), Email: n.Email, PasswordHash: n.PasswordHash, Role: n.Role,
		MustChangePassword: n.MustChangePassword, CreatedAt: at, UpdatedAt: at}
	_, err := t.exec(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.PasswordHash, string(u.Role), false, u.MustChangePassword, millis(now), millis(now))
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
	return s.AddUser(ctx, db.NewUser{Email: email, PasswordHash: passwordHash, Role: db.RoleAdmin})
}

// AddUser stores a new user with a role. It returns ErrUserExists when the email is taken,
// ignoring case.
func (s *DB) AddUser(ctx context.Context, n db.NewUser) (db.User, error) {
	var u db.User
	err := s.write(ctx, func(t *tx) error {
		var err error
		u, err = t.insertUser(n, s.Now())
		return err
	})
	if err != nil {
		return db.User{}, fmt.Errorf("create user: %w", s.translate(err))
	}
	return u, nil
}

// CreateFirstUser stores an admin only when there is no user yet, and reports whether it
// did. The check and the insert share one transaction, so two processes starting together
// create one admin between them.
func (s *DB) CreateFirstUser(ctx context.Context, email, passwordHash string) (bool, error) {
	created := false
	err := s.write(ctx, func(t *tx) error {
		created = false
		var n int
		if err := t.queryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if _, err := t.insertUser(db.NewUser{Email: email, PasswordHash: passwordHash, Role: db.RoleAdmin}, s.Now()); err != nil {
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

// FindUserByEmail returns the user with the given email, ignoring case.
func (s *DB) FindUserByEmail(ctx context.Context, email string) (db.User, error) {
	u, err := scanUser(s.reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
	if err != nil {
		return db.User{}, fmt.Errorf("find user by email: %w", s.translate(err))
	}
	return u, nil
}

// FindUser returns the user with the given id.
func (s *DB) FindUser(ctx context.Context, id string) (db.User, error) {
	u, err := scanUser(s.reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE public_id = ?`, id))
	if err != nil {
		return db.User{}, fmt.Errorf("find user: %w", s.translate(err))
	}
	return u, nil
}

// ListUsers returns every user, oldest account first.
func (s *DB) ListUsers(ctx context.Context) ([]db.User, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", s.translate(err))
	}
	defer rows.Close()
	var out []db.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", s.translate(err))
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", s.translate(err))
	}
	return out, nil
}

// otherEnabledAdmins counts the enabled admins other than the user id. The single writer
// serialises every change of users, so the count holds until the transaction commits.
func (t *tx) otherEnabledAdmins(id string) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND public_id <> ?`, id).Scan(&n)
	return n, err
}

// UpdateUser changes a user and returns it as it now is. A change that would leave no
// enabled admin fails with ErrLastAdmin. Disabling a user ends every session of theirs in
// the same transaction; a new password ends all but u.KeepSession.
func (s *DB) UpdateUser(ctx context.Context, id string, u db.UserUpdate) (db.User, error) {
	if u.Role != nil && !u.Role.ValidForUser() {
		return db.User{}, fmt.Errorf("update user: invalid role %q", *u.Role)
	}
	var out db.User
	err := s.write(ctx, func(t *tx) error {
		cur, err := scanUser(t.queryRow(`SELECT `+userColumns+` FROM users WHERE public_id = ?`, id))
		if err != nil {
			return err
		}
		next := cur
		if u.Role != nil {
			next.Role = *u.Role
		}
		if u.Disabled != nil {
			next.Disabled = *u.Disabled
		}
		if u.PasswordHash != nil {
			next.PasswordHash = *u.PasswordHash
		}
		if u.MustChangePassword != nil {
			next.MustChangePassword = *u.MustChangePassword
		}
		wasAdmin := cur.Role == db.RoleAdmin && !cur.Disabled
		if wasAdmin && (next.Role != db.RoleAdmin || next.Disabled) {
			n, err := t.otherEnabledAdmins(id)
			if err != nil {
				return err
			}
			if n == 0 {
				return db.ErrLastAdmin
			}
		}
		now := s.Now()
		next.UpdatedAt = now.Truncate(time.Millisecond)
		if _, err := t.exec(`UPDATE users SET role = ?, disabled = ?, password_hash = ?, must_change_password = ?, updated_at = ?
			WHERE public_id = ?`, string(next.Role), next.Disabled, next.PasswordHash, next.MustChangePassword, millis(now), id); err != nil {
			return err
		}
		switch {
		case next.Disabled:
			_, err = t.exec(`DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE public_id = ?)`, id)
		case u.PasswordHash != nil:
			_, err = t.exec(`DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE public_id = ?) AND id <> ?`,
				id, db.HashToken(u.KeepSession))
		}
		if err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return db.User{}, fmt.Errorf("update user: %w", s.translate(err))
	}
	return out, nil
}

// DeleteUser deletes a user and, with it, every session of theirs. Deleting the last enabled
// admin fails with ErrLastAdmin.
func (s *DB) DeleteUser(ctx context.Context, id string) error {
	err := s.write(ctx, func(t *tx) error {
		cur, err := scanUser(t.queryRow(`SELECT `+userColumns+` FROM users WHERE public_id = ?`, id))
		if err != nil {
			return err
		}
		if cur.Role == db.RoleAdmin && !cur.Disabled {
			n, err := t.otherEnabledAdmins(id)
			if err != nil {
				return err
			}
			if n == 0 {
				return db.ErrLastAdmin
			}
		}
		_, err = t.exec(`DELETE FROM users WHERE public_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete user: %w", s.translate(err))
	}
	return nil
}

// ListUserEmails returns the email of every enabled operator and admin, oldest account
// first: the people failure alerts go to by default.
func (s *DB) ListUserEmails(ctx context.Context) ([]string, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT email FROM users WHERE disabled = 0 AND role IN ('operator', 'admin') ORDER BY id`)
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

// CountUsers returns how many users exist.
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
// deleted, so an id known before sign-in is worthless after it. A disabled user gets
// ErrUserDisabled.
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
		if u.Disabled {
			return db.ErrUserDisabled
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

// FindSession returns the session with the given id and its user as the user is now (role
// included). The session of a disabled user is not found: it ends the moment the user is
// disabled, whichever process disabled them.
func (s *DB) FindSession(ctx context.Context, id string) (db.Session, error) {
	var (
		sess          db.Session
		created, seen int64
	)
	row := s.reader.QueryRowContext(ctx, `SELECT s.created_at, s.last_seen_at, `+sessionUserColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ? AND u.disabled = 0`, db.HashToken(id))
	u, err := scanUser(leading{row, []any{&created, &seen}})
	if err != nil {
		return db.Session{}, fmt.Errorf("find session: %w", s.translate(err))
	}
	sess.ID, sess.User = id, u
	sess.CreatedAt, sess.LastSeenAt = fromMillis(created), fromMillis(seen)
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
