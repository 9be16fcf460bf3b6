package postgres

import (
	"context"
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

func scanUser(sc rowScanner) (db.User, error) {
	var (
		u                db.User
		role             string
		created, updated int64
	)
	if err := sc.Scan(&u.ID, &u.Email, &u.PasswordHash, &role, &u.Disabled, &u.MustChangePassword, &created, &updated); err != nil {
		return db.User{}, err
	}
	u.Role = db.Role(role)
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, nil
}

// leading scans a row's first columns into lead, then the rest as its caller expects.
type leading struct {
	sc   rowScanner
	lead []any
}

func (l leading) Scan(dest ...any) error { return l.sc.Scan(append(l.lead, dest...)...) }

func (t *tx) insertUser(n db.NewUser, now time.Time) (db.User, error) {
	if !n.Role.ValidForUser() {
		return db.User{}, fmt.Errorf("invalid role %q", n.Role)
	}
	at := now.Truncate(time.Millisecond)
	u := db.User{ID: db.NewID("usr"), Email: n.Email, PasswordHash: n.PasswordHash, Role: n.Role,
		MustChangePassword: n.MustChangePassword, CreatedAt: at, UpdatedAt: at}
	_, err := t.exec(`INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, false, $5, $6, $6)`,
		u.ID, u.Email, u.PasswordHash, string(u.Role), u.MustChangePassword, millis(now))
	if err := classify(err); err != nil {
		if errors.Is(err, db.ErrConflict) {
			return db.User{}, db.ErrUserExists
		}
		return db.User{}, err
	}
	return u, nil
}

// CreateUser stores a new admin. The caller hashes the password. It returns
// db.ErrUserExists when the email is taken, ignoring case.
func (s *DB) CreateUser(ctx context.Context, email, passwordHash string) (db.User, error) {
	return s.AddUser(ctx, db.NewUser{Email: email, PasswordHash: passwordHash, Role: db.RoleAdmin})
}

// AddUser stores a new user with a role. It returns db.ErrUserExists when the email is
// taken, ignoring case.
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
// did. The table is locked against other inserts from the check to the commit, so instances
// starting together create one admin between them.
func (s *DB) CreateFirstUser(ctx context.Context, email, passwordHash string) (bool, error) {
	created := false
	err := s.write(ctx, func(t *tx) error {
		created = false
		if err := t.lockUsers(); err != nil {
			return err
		}
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

// lockUsers makes the transaction the only one changing users until it ends, so that a
// count it then reads holds until it commits (each statement of a transaction reads what
// was committed before it began). SHARE ROW EXCLUSIVE conflicts with itself and with
// writes, not with reads: sign-ins and sessions go on.
func (t *tx) lockUsers() error {
	_, err := t.exec(`LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`)
	return err
}

// FindUserByEmail returns the user with the given email, ignoring case.
func (s *DB) FindUserByEmail(ctx context.Context, email string) (db.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE lower(email) = lower($1)`, email))
	if err != nil {
		return db.User{}, fmt.Errorf("find user by email: %w", s.translate(err))
	}
	return u, nil
}

// FindUser returns the user with the given id.
func (s *DB) FindUser(ctx context.Context, id string) (db.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE public_id = $1`, id))
	if err != nil {
		return db.User{}, fmt.Errorf("find user: %w", s.translate(err))
	}
	return u, nil
}

// ListUsers returns every user, oldest account first.
func (s *DB) ListUsers(ctx context.Context) ([]db.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY id`)
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

// keepAnAdmin fails with db.ErrLastAdmin unless an enabled admin other than the user id
// remains. The caller holds lockUsers, so the answer holds until it commits: two admins
// demoting each other at once cannot both succeed.
func (t *tx) keepAnAdmin(id string) error {
	var n int
	if err := t.queryRow(`SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND public_id <> $1`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return db.ErrLastAdmin
	}
	return nil
}

// UpdateUser changes a user and returns it as it now is. A change that would leave no
// enabled admin fails with db.ErrLastAdmin. Disabling a user ends every session of theirs
// in the same transaction; a new password ends all but u.KeepSession.
func (s *DB) UpdateUser(ctx context.Context, id string, u db.UserUpdate) (db.User, error) {
	if u.Role != nil && !u.Role.ValidForUser() {
		return db.User{}, fmt.Errorf("update user: invalid role %q", *u.Role)
	}
	var out db.User
	err := s.write(ctx, func(t *tx) error {
		if err := t.lockUsers(); err != nil {
			return err
		}
		cur, err := scanUser(t.queryRow(`SELECT `+userColumns+` FROM users WHERE public_id = $1`, id))
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
		if cur.Role == db.RoleAdmin && !cur.Disabled && (next.Role != db.RoleAdmin || next.Disabled) {
			if err := t.keepAnAdmin(id); err != nil {
				return err
			}
		}
		now := s.Now()
		next.UpdatedAt = now.Truncate(time.Millisecond)
		if _, err := t.exec(`UPDATE users SET role = $1, disabled = $2, password_hash = $3, must_change_password = $4, updated_at = $5
			WHERE public_id = $6`, string(next.Role), next.Disabled, next.PasswordHash, next.MustChangePassword, millis(now), id); err != nil {
			return err
		}
		switch {
		case next.Disabled:
			_, err = t.exec(`DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE public_id = $1)`, id)
		case u.PasswordHash != nil:
			_, err = t.exec(`DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE public_id = $1) AND id <> $2`,
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

// DeleteUser deletes a user and, with it, every session of theirs. Deleting the last
// enabled admin fails with db.ErrLastAdmin.
func (s *DB) DeleteUser(ctx context.Context, id string) error {
	err := s.write(ctx, func(t *tx) error {
		if err := t.lockUsers(); err != nil {
			return err
		}
		cur, err := scanUser(t.queryRow(`SELECT `+userColumns+` FROM users WHERE public_id = $1`, id))
		if err != nil {
			return err
		}
		if cur.Role == db.RoleAdmin && !cur.Disabled {
			if err := t.keepAnAdmin(id); err != nil {
				return err
			}
		}
		_, err = t.exec(`DELETE FROM users WHERE public_id = $1`, id)
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
	rows, err := s.pool.Query(ctx, `SELECT email FROM users WHERE NOT disabled AND role IN ('operator', 'admin') ORDER BY id`)
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
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", s.translate(err))
	}
	return n, nil
}

// CreateSession starts a session of user userID under a fresh random id and removes
// sessions idle since before expiredBefore, so the table does not grow without bound.
// replaces, when not empty, is the id of the session the browser held until now: it is
// deleted, so an id known before sign-in is worthless after it. The table keeps only the
// ids' SHA-256 (db.HashToken). A disabled user gets db.ErrUserDisabled.
func (s *DB) CreateSession(ctx context.Context, userID, replaces string, expiredBefore time.Time) (db.Session, error) {
	var sess db.Session
	err := s.write(ctx, func(t *tx) error {
		if replaces != "" {
			if _, err := t.exec(`DELETE FROM sessions WHERE id = $1`, db.HashToken(replaces)); err != nil {
				return err
			}
		}
		if _, err := t.exec(`DELETE FROM sessions WHERE last_seen_at < $1`, millis(expiredBefore)); err != nil {
			return err
		}
		u, err := scanUser(t.queryRow(`SELECT `+userColumns+` FROM users WHERE public_id = $1`, userID))
		if err != nil {
			return err
		}
		if u.Disabled {
			return db.ErrUserDisabled
		}
		now := s.Now()
		sess = db.Session{ID: db.NewToken(), User: u, CreatedAt: now.Truncate(time.Millisecond), LastSeenAt: now.Truncate(time.Millisecond)}
		_, err = t.exec(`INSERT INTO sessions (id, user_id, created_at, last_seen_at)
			VALUES ($1, (SELECT id FROM users WHERE public_id = $2), $3, $3)`, db.HashToken(sess.ID), userID, millis(now))
		return err
	})
	if err != nil {
		return db.Session{}, fmt.Errorf("create session: %w", s.translate(err))
	}
	return sess, nil
}

// FindSession returns the session with the given id and its user as the user is now (role
// included). The session of a disabled user is not found: it ends the moment the user is
// disabled, on every instance, since every instance reads it here.
func (s *DB) FindSession(ctx context.Context, id string) (db.Session, error) {
	var created, seen int64
	u, err := scanUser(leading{s.pool.QueryRow(ctx, `SELECT s.created_at, s.last_seen_at, `+sessionUserColumns+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND NOT u.disabled`, db.HashToken(id)), []any{&created, &seen}})
	if err != nil {
		return db.Session{}, fmt.Errorf("find session: %w", s.translate(err))
	}
	return db.Session{ID: id, User: u, CreatedAt: fromMillis(created), LastSeenAt: fromMillis(seen)}, nil
}

// TouchSession records activity on a session now.
func (s *DB) TouchSession(ctx context.Context, id string) error {
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec(`UPDATE sessions SET last_seen_at = $1 WHERE id = $2`, millis(s.Now()), db.HashToken(id))
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
		_, err := t.exec(`DELETE FROM sessions WHERE id = $1`, db.HashToken(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", s.translate(err))
	}
	return nil
}

// Setting returns the stored value of a generated setting, creating it with value when it
// does not exist yet. Instances racing get the same stored value: the insert of the second
// waits for the first's commit and then does nothing, and the read that follows sees it.
func (s *DB) Setting(ctx context.Context, key string, value []byte) ([]byte, error) {
	var out []byte
	err := s.write(ctx, func(t *tx) error {
		if _, err := t.exec(`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return t.queryRow(`SELECT value FROM settings WHERE key = $1`, key).Scan(&out)
	})
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", key, s.translate(err))
	}
	return out, nil
}
