package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrBackupExists is returned by Backup when the target file exists: a backup never
// overwrites anything, least of all an older backup.
var ErrBackupExists = errors.New("the backup file exists already")

// Backup writes a consistent copy of the hookrelay database at path to the new file to,
// while servers keep reading and writing it. The copy is SQLite's VACUUM INTO, made in one
// read transaction: it holds every commit made before the backup began and none made after,
// and it never blocks the writer (under WAL, readers and the writer do not wait for each
// other). The copy is compacted, checked (PRAGMA quick_check), synced to disk and only then
// given its name, so a file at to is always a whole backup.
//
// It opens path read-only and needs no encryption key: webhook secrets are copied as they
// are stored, encrypted when a key is set, so the copy needs the same key to be used.
func Backup(ctx context.Context, path, to string) (err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("back up %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("back up %s: not a database file", path)
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("back up to %s: %w", to, ErrBackupExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("back up to %s: %w", to, err)
	}

	// mode=ro: a backup cannot change the live database, nor create one where there was none.
	src, err := sql.Open("sqlite", "file:"+escapePath(path)+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return fmt.Errorf("back up %s: %w", path, translate(err))
	}
	defer src.Close()
	src.SetMaxOpenConns(1)
	var versions int
	if err := src.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions); err != nil {
		return fmt.Errorf("back up %s: not a hookrelay database: %w", path, translate(err))
	}
	if versions == 0 {
		return fmt.Errorf("back up %s: not a hookrelay database: no migration was applied", path)
	}

	// The copy is written under a temporary name in the target's directory, and linked to
	// its name once complete: a link, unlike a rename, fails rather than replace a file that
	// appeared meanwhile.
	tmp, err := os.CreateTemp(filepath.Dir(to), "."+filepath.Base(to)+".*.partial")
	if err != nil {
		return fmt.Errorf("back up to %s: %w", to, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName)
	// VACUUM INTO writes only into a file that is missing or empty; CreateTemp's is empty.
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, tmpName); err != nil {
		return fmt.Errorf("back up %s: copy: %w", path, translate(err))
	}
	if err := checkCopy(ctx, tmpName); err != nil {
		return fmt.Errorf("back up %s: check the copy: %w", path, err)
	}
	if err := syncFile(tmpName); err != nil {
		return fmt.Errorf("back up to %s: %w", to, err)
	}
	if err := os.Link(tmpName, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("back up to %s: %w", to, ErrBackupExists)
		}
		return fmt.Errorf("back up to %s: %w", to, err)
	}
	return syncFile(filepath.Dir(to))
}

// checkCopy runs SQLite's quick check over the copy.
func checkCopy(ctx context.Context, path string) error {
	c, err := sql.Open("sqlite", "file:"+escapePath(path)+"?mode=ro")
	if err != nil {
		return translate(err)
	}
	defer c.Close()
	var res string
	if err := c.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&res); err != nil {
		return translate(err)
	}
	if res != "ok" {
		return fmt.Errorf("quick_check: %s", res)
	}
	return nil
}

// syncFile flushes a file, or a directory's entries, to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
