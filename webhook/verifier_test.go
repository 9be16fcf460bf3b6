package webhook_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/webhook"
)

func TestNewVerifierRefusesBadSecretsWithoutRepeatingThem(t *testing.T) {
	t.Parallel()
	_, err := webhook.NewVerifier()
	assert.ErrorIs(t, err, webhook.ErrNoSecrets)

	bad := "whsec_bm90LWEtdmFsaWQtc2VjcmV0"
	_, err = webhook.NewVerifier(vectorSecret, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "secret 2 of 2")
	assert.NotContains(t, err.Error(), bad)

	v, err := webhook.NewVerifier(vectorSecret, webhook.NewSecret())
	require.NoError(t, err)
	assert.NotNil(t, v)
}

func vectorHeader() http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, vectorID)
	h.Set(webhook.HeaderTimestamp, strconv.Itoa(vectorTimestamp))
	h.Set(webhook.HeaderSignature, vectorSignature)
	return h
}

func TestVerifierVerify(t *testing.T) {
	t.Parallel()
	sent := time.Unix(vectorTimestamp, 0)
	for _, tc := range []struct {
		name      string
		tolerance time.Duration
		now       time.Time
		edit      func(http.Header)
		body      string
		want      error
	}{
		{name: "the vector", now: sent},
		{name: "header names in any case", now: sent, edit: func(h http.Header) {
			sig := h.Get(webhook.HeaderSignature)
			h.Del(webhook.HeaderSignature)
			h["WEBHOOK-SIGNATURE"] = []string{sig} // canonicalised by net/http on the wire
			h.Set("Webhook-Signature", sig)
		}},
		{name: "default tolerance edge", now: sent.Add(5 * time.Minute)},
		{name: "six minutes old", now: sent.Add(6 * time.Minute), want: webhook.ErrTooOld},
		{name: "six minutes ahead", now: sent.Add(-6 * time.Minute), want: webhook.ErrTooNew},
		{name: "wider tolerance", tolerance: 10 * time.Minute, now: sent.Add(6 * time.Minute)},
		{name: "narrower tolerance", tolerance: 30 * time.Second, now: sent.Add(31 * time.Second), want: webhook.ErrTooOld},
		{name: "no signature header", now: sent, edit: func(h http.Header) { h.Del(webhook.HeaderSignature) }, want: webhook.ErrMissingHeaders},
		{name: "no id header", now: sent, edit: func(h http.Header) { h.Del(webhook.HeaderID) }, want: webhook.ErrMissingHeaders},
		{name: "bad timestamp", now: sent, edit: func(h http.Header) { h.Set(webhook.HeaderTimestamp, "soon") }, want: webhook.ErrBadTimestamp},
		{name: "tampered body", now: sent, body: `{"test": 2432232315}`, want: webhook.ErrNoMatchingSig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := webhook.NewVerifier(vectorSecret)
			require.NoError(t, err)
			v.Tolerance = tc.tolerance
			v.Now = func() time.Time { return tc.now }
			h := vectorHeader()
			if tc.edit != nil {
				tc.edit(h)
			}
			body := tc.body
			if body == "" {
				body = vectorBody
			}
			err = v.Verify(h, []byte(body))
			if tc.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestMissingHeadersErrorNamesThem(t *testing.T) {
	t.Parallel()
	v, err := webhook.NewVerifier(vectorSecret)
	require.NoError(t, err)
	err = v.Verify(http.Header{"Webhook-Id": {"x"}}, nil)
	require.ErrorIs(t, err, webhook.ErrMissingHeaders)
	assert.Contains(t, err.Error(), "(webhook-timestamp, webhook-signature)")
}

// delivery is a signed request as hookrelay sends it.
func delivery(t *testing.T, secret, id, body string, at time.Time) *http.Request {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(webhook.HeaderID, id)
	req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(webhook.HeaderSignature, webhook.Sign(key, id, at.Unix(), []byte(body)))
	return req
}

const eventBody = `{"id":"evt_01JDQ","eventType":"workflow.completed","timestamp":"2026-11-28T14:02:11.317Z","workflowId":"wf_42","data":{"status":"done"}}`

func TestMiddlewareHandsOnTheEventAndTheRawBody(t *testing.T) {
	t.Parallel()
	v, err := webhook.NewVerifier(vectorSecret)
	require.NoError(t, err)
	var (
		got     webhook.Event
		gotOK   bool
		rawBody string
	)
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotOK = webhook.EventFrom(r.Context())
		b, _ := io.ReadAll(r.Body)
		rawBody = string(b)
		w.WriteHeader(http.StatusAccepted)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, delivery(t, vectorSecret, "evt_01JDQ", eventBody, time.Now()))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.True(t, gotOK)
	assert.Equal(t, eventBody, rawBody, "the handler can read the body as received")
	assert.Equal(t, "evt_01JDQ", got.ID)
	assert.Equal(t, "workflow.completed", got.EventType)
	assert.Equal(t, time.Date(2026, 11, 28, 14, 2, 11, 317e6, time.UTC), got.Timestamp.UTC())
	assert.Equal(t, "wf_42", got.WorkflowID)
	assert.JSONEq(t, `{"status":"done"}`, string(got.Data))

	// A null workflowId is the empty string.
	nullWF := strings.Replace(eventBody, `"wf_42"`, "null", 1)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, delivery(t, vectorSecret, "evt_01JDQ", nullWF, time.Now()))
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	assert.Empty(t, got.WorkflowID)
}

func TestMiddlewareRefusals(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		name     string
		req      func(t *testing.T) *http.Request
		status   int
		contains string
	}{
		{"wrong secret", func(t *testing.T) *http.Request {
			return delivery(t, webhook.NewSecret(), "evt_01JDQ", eventBody, now)
		}, 401, "no matching signature"},
		{"tampered body", func(t *testing.T) *http.Request {
			r := delivery(t, vectorSecret, "evt_01JDQ", eventBody, now)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(eventBody, "done", "DONE", 1)))
			return r
		}, 401, "no matching signature"},
		{"six minutes old", func(t *testing.T) *http.Request {
			return delivery(t, vectorSecret, "evt_01JDQ", eventBody, now.Add(-6*time.Minute))
		}, 401, "too old"},
		{"six minutes ahead", func(t *testing.T) *http.Request {
			return delivery(t, vectorSecret, "evt_01JDQ", eventBody, now.Add(6*time.Minute))
		}, 401, "future"},
		{"no headers", func(t *testing.T) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader(eventBody))
		}, 400, "missing"},
		{"bad timestamp", func(t *testing.T) *http.Request {
			r := delivery(t, vectorSecret, "evt_01JDQ", eventBody, now)
			r.Header.Set(webhook.HeaderTimestamp, "1e9")
			return r
		}, 400, "unix seconds"},
		{"signed but not an event", func(t *testing.T) *http.Request {
			return delivery(t, vectorSecret, "evt_01JDQ", `[1,2]`, now)
		}, 400, "not a hookrelay event"},
		{"signed object without a type", func(t *testing.T) *http.Request {
			return delivery(t, vectorSecret, "evt_01JDQ", `{"id":"evt_01JDQ"}`, now)
		}, 400, "not a hookrelay event"},
		{"too large", func(t *testing.T) *http.Request {
			return delivery(t, vectorSecret, "evt_01JDQ", `{"id":"evt_01JDQ","eventType":"x","data":{"pad":"`+strings.Repeat("x", 2048)+`"}}`, now)
		}, 413, "too large"},
		{"GET", func(t *testing.T) *http.Request {
			return httptest.NewRequest(http.MethodGet, "/hook", nil)
		}, 405, "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := webhook.NewVerifier(vectorSecret)
			require.NoError(t, err)
			v.MaxBodyBytes = 1024
			called := false
			h := v.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.req(t))
			assert.Equal(t, tc.status, rec.Code)
			assert.Contains(t, rec.Body.String(), tc.contains)
			assert.False(t, called, "a refused request never reaches the handler")
		})
	}
}

func TestMiddlewareErrorHandler(t *testing.T) {
	t.Parallel()
	v, err := webhook.NewVerifier(vectorSecret)
	require.NoError(t, err)
	var seen error
	v.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		seen = err
		w.WriteHeader(webhook.StatusCode(err))
	}
	h := v.HandlerFunc(func(http.ResponseWriter, *http.Request, webhook.Event) { t.Error("handler called") })
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, delivery(t, vectorSecret, "evt_01JDQ", eventBody, time.Now().Add(-time.Hour)))
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.ErrorIs(t, seen, webhook.ErrTooOld)
}

func TestStatusCode(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]int{
		webhook.ErrMissingHeaders: 400, webhook.ErrBadTimestamp: 400, webhook.ErrBadEvent: 400,
		webhook.ErrTooOld: 401, webhook.ErrTooNew: 401, webhook.ErrNoMatchingSig: 401, webhook.ErrNoSecrets: 401,
		webhook.ErrMethod: 405, webhook.ErrBodyTooLarge: 413, errors.New("other"): 500,
	} {
		assert.Equal(t, want, webhook.StatusCode(err), "%v", err)
	}
}
