package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/guard"
)

var eventSeeds = []string{
	`{"eventType":"workflow.completed","workflowId":"wf_42","data":{"status":"done"},"timestamp":"2026-11-28T14:02:11Z","idempotencyKey":"k"}`,
	`{"eventType":"a.b","data":{}}`,
	`{"eventType":"a.b","data":{"x":[1,2,{"y":null}]},"extra":1}`,
	`{"eventType":"a..b","data":{}}`,
	`{"eventType":"a.b","data":[]}`,
	`{"eventType":"a.b","data":{}} trailing`,
	`{"EVENTTYPE":"a.b","Data":{}}`,
	`{"eventType":"a.b","data":{},"timestamp":"2025-13-40T99:99:99Z"}`,
	`{"eventType":"a.b","data":{"s":"\ud800"}}`,
	`{"eventType":null,"data":{}}`,
	`{"eventType":"a.b","data":{},"workflowId":""}`,
	`[`, `{`, `{"a":`, `null`, ``, "\xff", `{"eventType":"a.b","data":{"n":1e999}}`,
	`{"eventType":"a.b","eventtype":"c.d","data":{}}`,
	`{"eventType":"a.b","data":{},"workflowID":"wf"}`,
	`{"eventType":"a.b","eventType":"c.d","data":{}}`,
	`{"eventType":"a.b","data":{"k":1,"k":2},"data":{}}`,
	`{"eventType":"a.b","data":{"k":"\"","k":{"}":[1,{"k":2,"k":3}]}}}`,
}

// FuzzDecodeEvent runs ingest decoding and validation on arbitrary bytes: nothing may panic,
// every refusal is a 4xx *apiError, and what is accepted is what the database may store.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add([]byte(s))
	}
	lim := (&Server{}).limits()
	f.Fuzz(func(t *testing.T, b []byte) {
		var req eventRequest
		if err := decodeStrict(b, &req); err != nil {
			requireClientError(t, err)
			return
		}
		if !exactKeys(b, eventShape, "event") {
			t.Fatalf("accepted %q, whose keys are not exact and unique", b)
		}
		ev, err := req.validate(lim)
		if err != nil {
			requireClientError(t, err)
			return
		}
		if err := db.ValidateEventType(ev.Type); err != nil {
			t.Fatalf("accepted event type %q: %v", ev.Type, err)
		}
		if !json.Valid(ev.Data) || len(ev.Data) == 0 || ev.Data[0] != '{' {
			t.Fatalf("accepted data %q is not a JSON object", ev.Data)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, ev.Data); err != nil || !bytes.Equal(buf.Bytes(), ev.Data) {
			t.Fatalf("accepted data %q is not compact", ev.Data)
		}
		if utf8.Valid(b) && !utf8.Valid(ev.Data) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", ev.Data)
		}
		if utf8.RuneCountInString(ev.WorkflowID) > lim.workflowIDLength || utf8.RuneCountInString(ev.IdempotencyKey) > lim.idempotencyKeyLength {
			t.Fatalf("a field over its limit was accepted: %+v", ev)
		}
		if !ev.OccurredAt.IsZero() && ev.OccurredAt.Location().String() != "UTC" {
			t.Fatalf("timestamp %v is not UTC", ev.OccurredAt)
		}
	})
}

func requireClientError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *apiError", err)
	}
	if ae.Status < 400 || ae.Status > 499 || ae.Code == "" || ae.Message == "" {
		t.Fatalf("error %+v is not a complete 4xx", ae)
	}
}

// FuzzIngestRoute posts arbitrary bodies to both ingest routes of a real server on a real
// database: the answer is always one of the documented statuses, with a JSON body, and the
// server never answers 500.
func FuzzIngestRoute(f *testing.F) {
	for _, s := range eventSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"events":[{"eventType":"a.b","data":{}},{"eventType":"","data":{}},5,null,"x"]}`), true)
	f.Add([]byte(`{"events":[]}`), true)
	f.Add([]byte(`{"events":{"eventType":"a.b"}}`), true)
	store := dbtest.New(f)
	srv := &Server{DB: store, Logger: slog.New(slog.DiscardHandler), IngestToken: "ingest-token-for-fuzzing", AdminToken: "admin-token-for-fuzzing",
		MaxEventBytes: 4096, MaxBatchBytes: 16384, MaxBatchEvents: 10}
	h := srv.Routes()
	f.Fuzz(func(t *testing.T, body []byte, batch bool) {
		path := "/api/v1/events"
		if batch {
			path += "/batch"
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer ingest-token-for-fuzzing")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("answer is not JSON: %q", rec.Body)
		}
	})
}

var urlSeeds = []string{
	"https://receiver.example.com/hooks/in?x=1", "http://127.0.0.1:9000/hook", "http://[::1]:80/", "http://[fe80::1%25eth0]/",
	"https://user:pw@host/", "ftp://x/", "http:x", "//host/path", "https://", "https:///p", "http://bad host/",
	"http://x:99999/", "http://x:port/", "HTTP://UPPER.example/", "https://例え.テスト/", "http://%41/", "http://[::ffff:169.254.169.254]/",
	"http://0x7f.1/", "http://2130706433/", "http://127.1/", "javascript:alert(1)", "http://a\x00b/", "http://a/\r\nHost: evil",
}

// FuzzValidateURL checks that a URL validateURL accepts can be delivered to: it parses, is
// http or https with a host, fits the limit, and net/http builds a request for it. For an IP
// literal, the destination guard's verdict at save time matches its verdict at dial time.
func FuzzValidateURL(f *testing.F) {
	for _, s := range urlSeeds {
		f.Add(s)
	}
	g := &guard.Guard{}
	f.Fuzz(func(t *testing.T, raw string) {
		err := validateURL(raw, defaultMaxURLLength)
		if err != nil {
			requireClientError(t, err)
			return
		}
		if len(raw) > defaultMaxURLLength {
			t.Fatalf("accepted a URL of %d bytes", len(raw))
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			t.Fatalf("accepted %q: %v", raw, err)
		}
		if _, err := http.NewRequest(http.MethodPost, raw, nil); err != nil {
			t.Fatalf("accepted %q, which net/http cannot send to: %v", raw, err)
		}
		ip, perr := netip.ParseAddr(u.Hostname())
		if perr != nil {
			return // names need DNS; the guard's name handling is tested in package guard
		}
		saveErr := g.CheckURL(t.Context(), u)
		dialErr := g.Control("tcp", netip.AddrPortFrom(ip, 443).String(), nil)
		if (saveErr == nil) != (dialErr == nil) {
			t.Fatalf("%q: refused at save %v, at dial %v", raw, saveErr, dialErr)
		}
		if saveErr != nil && !strings.Contains(saveErr.Error(), "blocked") {
			t.Fatalf("%q: unclear reason %q", raw, saveErr)
		}
	})
}
