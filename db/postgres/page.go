package postgres

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hookrelay/hookrelay/db"
)

// page builds the newest-first keyset queries of the List methods: filters, the cursor of
// the previous page, and one row more than the page holds, to know whether another follows.
// Cursors are the same as db/sqlite's.
type page struct {
	kind  byte   // marks the cursors of one list, so one list's cursor is refused by another
	idCol string // the row id column the pages are cut on
	limit int
	where []string
	args  []any
}

// newPage starts a page of at most limit rows (50 when 0 or less, at most 500).
func newPage(kind byte, idCol string, limit int) *page {
	if limit <= 0 {
		limit = 50
	}
	return &page{kind: kind, idCol: idCol, limit: min(limit, 500)}
}

// filter adds a condition with its arguments, written with ? for each: they are numbered
// when the query is built.
func (p *page) filter(cond string, args ...any) {
	p.where = append(p.where, cond)
	p.args = append(p.args, args...)
}

// after continues after the row a previous page's cursor names.
func (p *page) after(cursor string) error {
	if cursor == "" {
		return nil
	}
	row, err := p.decode(cursor)
	if err != nil {
		return err
	}
	p.filter(p.idCol+" < ?", row)
	return nil
}

// query completes selectFrom ("SELECT … FROM …") with the filters, the order and the limit.
func (p *page) query(selectFrom string) (string, []any) {
	q := selectFrom
	if len(p.where) > 0 {
		q += " WHERE " + strings.Join(p.where, " AND ")
	}
	q += " ORDER BY " + p.idCol + " DESC LIMIT ?"
	return numberPlaceholders(q), append(p.args, p.limit+1)
}

// numberPlaceholders turns each ? of q into $1, $2, … in order. The queries it is given are
// this package's own, with no ? inside literals.
func numberPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cut keeps the page's rows of the n read (their row ids in rows) and returns how many to
// keep and the cursor of the next page, empty on the last.
func (p *page) cut(rows []int64) (int, string) {
	if len(rows) <= p.limit {
		return len(rows), ""
	}
	return p.limit, p.encode(rows[p.limit-1])
}

// Cursors wrap the internal row id so that it can change meaning later without breaking
// clients that treat them as opaque.
func (p *page) encode(row int64) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%c%d", p.kind, row))
}

func (p *page) decode(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != p.kind {
		return 0, db.ErrBadCursor
	}
	row, err := strconv.ParseInt(string(b[1:]), 10, 64)
	if err != nil || row <= 0 {
		return 0, db.ErrBadCursor
	}
	return row, nil
}

// listPage reads a page's rows, whose first column is the row id, scanning the rest of each
// row with scan.
func listPage[T any](rows pgx.Rows, p *page, scan func(rowScanner) (T, error)) ([]T, string, error) {
	defer rows.Close()
	var (
		out  []T
		rids []int64
	)
	for rows.Next() {
		var rid int64
		v, err := scan(prefixScanner{rows, &rid})
		if err != nil {
			return nil, "", err
		}
		out, rids = append(out, v), append(rids, rid)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	n, next := p.cut(rids)
	return out[:n], next, nil
}

// prefixScanner scans one leading column into first, then the rest as the wrapped scanner's
// caller expects.
type prefixScanner struct {
	rows  rowScanner
	first *int64
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append([]any{p.first}, dest...)...)
}
