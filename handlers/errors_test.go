package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
)

// storageBusy is an error as a store returns it when another process holds the write lock
// past the busy timeout: the store has classified it (db.ErrUnavailable), and the handlers
// need not know which database said what. TestBusyStorageIs503InUI shows the real thing.
func storageBusy() error {
	return fmt.Errorf("create webhook: begin transaction: %w", fmt.Errorf("%w: database is locked (5) (SQLITE_BUSY)", db.ErrUnavailable))
}

// TestClassifyErrors checks the class of each kind of error, and that the API and the UI,
// as a full page and as an htmx fragment, answer each with the same status and log it
// the same way.
func TestClassifyErrors(t *testing.T) {
	t.Parallel()
	busy := storageBusy()
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		field  string
		title  string
		level  string // "" when not logged
	}{
		{"not found", fmt.Errorf("find webhook: %w", db.ErrNotFound), 404, codeNotFound, "", "Not found", ""},
		{"in flight", fmt.Errorf("retry: %w", db.ErrInFlight), 409, codeConflict, "", "Not now", ""},
		{"webhook disabled", db.ErrWebhookDisabled, 409, codeConflict, "", "Webhook disabled", ""},
		{"another conflict", fmt.Errorf("create webhook: %w: UNIQUE constraint failed", db.ErrConflict), 409, codeConflict, "", "Conflict", ""},
		{"an admin that exists", db.ErrUserExists, 409, codeConflict, "", "Conflict", ""},
		{"bad cursor", fmt.Errorf("list deliveries: %w", db.ErrBadCursor), 400, codeInvalidValue, "cursor", "Bad page link", ""},
		{"bad input", invalidValue("url", "must include a host"), 400, codeInvalidValue, "url", "Bad Request", ""},
		{"busy database", busy, 503, codeUnavailable, "", "Unavailable", "WARN"},
		{"closed database", fmt.Errorf("create webhook: %w", db.ErrClosed), 503, codeUnavailable, "", "Unavailable", "WARN"},
		{"slow database", fmt.Errorf("list webhooks: %w", context.DeadlineExceeded), 503, codeUnavailable, "", "Unavailable", "WARN"},
		{"anything else", errors.New("disk on fire"), 500, codeInternal, "", "Something went wrong", "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := classify(tc.err)
			assert.Equal(t, tc.status, c.Status)
			assert.Equal(t, tc.code, c.Code)
			assert.Equal(t, tc.field, c.Field)
			assert.Equal(t, tc.title, c.Title)
			assert.NotEmpty(t, c.Message)
			assert.NotEmpty(t, c.Text)
			assert.NotContains(t, c.Message+c.Text, "fire", "internal detail never shows")

			var logs bytes.Buffer
			s := &Server{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			req := httptest.NewRequest(http.MethodGet, "/x", nil)

			api := httptest.NewRecorder()
			s.fail(api, req, tc.err)
			assert.Equal(t, tc.status, api.Code, "API")
			var body errorBody
			require.NoError(t, json.Unmarshal(api.Body.Bytes(), &body))
			assert.Equal(t, errorDetail{Code: c.Code, Message: c.Message, Field: c.Field}, body.Error)

			page := httptest.NewRecorder()
			s.uiFail(page, req, tc.err)
			assert.Equal(t, tc.status, page.Code, "UI page")
			d, err := goquery.NewDocumentFromReader(page.Body)
			require.NoError(t, err)
			ep := d.Find(`[data-testid="error-page"]`)
			assert.Equal(t, strconv.Itoa(tc.status), ep.AttrOr("data-status", ""))
			assert.Equal(t, tc.title, strings.TrimSpace(ep.Find("h1").Text()))
			assert.Contains(t, ep.Text(), c.Text)

			hx := httptest.NewRecorder()
			hxReq := httptest.NewRequest(http.MethodPost, "/x", nil)
			hxReq.Header.Set("HX-Request", "true")
			s.uiFail(hx, hxReq, tc.err)
			assert.Equal(t, tc.status, hx.Code, "UI htmx")
			msg, err := url.PathUnescape(hx.Header().Get("X-Error-Message"))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(msg, c.Text), "htmx message %q", msg)

			// One log line per answer when the class is logged, none otherwise.
			var lines []map[string]any
			for l := range bytes.Lines(logs.Bytes()) {
				var m map[string]any
				require.NoError(t, json.Unmarshal(l, &m))
				lines = append(lines, m)
			}
			if tc.level == "" {
				assert.Empty(t, lines)
				return
			}
			require.Len(t, lines, 3)
			for _, m := range lines {
				assert.Equal(t, tc.level, m["level"])
				assert.Equal(t, "request failed", m["msg"])
				assert.Equal(t, float64(tc.status), m["status"])
				assert.Equal(t, tc.err.Error(), m["err"])
			}
		})
	}
}
