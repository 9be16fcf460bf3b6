//go:build e2e

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/testsuite"
	"github.com/hookrelay/hookrelay/webhook"
)

// interopDir holds the Node project with the official verifiers (see interop/verify.mjs).
const interopDir = "../interop"

// interopPackages are the official libraries interop/package-lock.json pins.
var interopPackages = map[string]string{"standardwebhooks": "1.1.1", "svix": "2.5.0"}

// interopMissing says what the interop check lacks, or "".
func interopMissing() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node not found; install Node.js and npm, and make test installs the pinned libraries"
	}
	for pkg := range interopPackages {
		if _, err := os.Stat(filepath.Join(interopDir, "node_modules", pkg, "package.json")); err != nil {
			if _, err := exec.LookPath("npm"); err != nil {
				return "npm not found, so the pinned libraries are not installed in interop/node_modules; install npm, and make test installs them"
			}
			return pkg + " is not installed in interop/node_modules; run `npm ci` in interop/ (make test does)"
		}
	}
	return ""
}

// requireInterop returns the node binary, after checking that the pinned libraries are
// installed. Without them the test skips on a developer's machine and fails in CI, where
// .ci/run installs them.
func requireInterop(t *testing.T) string {
	t.Helper()
	testsuite.Require(t, interopSuite, testsuite.CIMode(os.Getenv))
	node, err := exec.LookPath("node")
	require.NoError(t, err)
	for pkg, version := range interopPackages {
		b, err := os.ReadFile(filepath.Join(interopDir, "node_modules", pkg, "package.json"))
		require.NoError(t, err)
		var meta struct{ Version string }
		require.NoError(t, json.Unmarshal(b, &meta))
		require.Equal(t, version, meta.Version, "interop/node_modules/%s is not the pinned version", pkg)
	}
	return node
}

// capture is one delivery as a receiver got it.
type capture struct {
	header http.Header
	body   []byte
}

// interopCase is what verify.mjs checks; see its header comment.
type interopCase struct {
	Name       string            `json:"name"`
	Secret     string            `json:"secret"`
	Headers    map[string]string `json:"headers"`
	BodyBase64 string            `json:"bodyBase64"`
	Now        *int64            `json:"now,omitempty"`

	valid   bool   // the expected verdict
	libErr  string // for an invalid case: the libraries' error message
	goErr   error  // for an invalid case: the Go package's error
	rawBody []byte
}

func newCase(name, secret string, c capture, now *int64) interopCase {
	h := map[string]string{}
	for _, k := range []string{webhook.HeaderID, webhook.HeaderTimestamp, webhook.HeaderSignature} {
		h[k] = c.header.Get(k)
	}
	return interopCase{Name: name, Secret: secret, Headers: h, BodyBase64: base64.StdEncoding.EncodeToString(c.body), Now: now, rawBody: c.body}
}

func (c interopCase) accepted() interopCase {
	c.valid = true
	return c
}

func (c interopCase) refused(libErr string, goErr error) interopCase {
	c.libErr, c.goErr = libErr, goErr
	return c
}

type libResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// TestOfficialLibrariesVerifyRealDeliveries captures deliveries from the real binary (with
// its secrets encrypted at rest) and has the official Standard Webhooks verifiers for
// JavaScript, standardwebhooks 1.1.1 and svix 2.5.0, check them, then the Go package on the
// same captures: a plain delivery, one sent during a rotation (whose valid signature for the
// old secret is the last one), a tampered body, and a timestamp 6 minutes old.
func TestOfficialLibrariesVerifyRealDeliveries(t *testing.T) {
	t.Parallel()
	node := requireInterop(t)

	got := make(chan capture, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- capture{header: r.Header.Clone(), body: b}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	next := func(what string) capture {
		t.Helper()
		select {
		case c := <-got:
			return c
		case <-time.After(20 * time.Second): // a hang guard only: the delivery is sent at once
			t.Fatalf("no delivery for %s", what)
			return capture{}
		}
	}

	key := make([]byte, 32)
	rand.Read(key)
	srv := startServer(t, "", "HOOKRELAY_ENCRYPTION_KEY="+base64.StdEncoding.EncodeToString(key))
	var wh struct{ ID, Secret string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"order.*"}}, &wh))
	oldSecret := wh.Secret

	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "order.paid", "workflowId": "wf_1", "data": map[string]any{"n": 1, "note": "plain"}}, nil))
	plain := next("the plain event")
	require.Len(t, strings.Fields(plain.header.Get(webhook.HeaderSignature)), 1)

	var rotated struct{ Secret string }
	require.Equal(t, 200, srv.api(t, "POST", "/api/v1/webhooks/"+wh.ID+"/secret/rotate", adminToken,
		map[string]any{"gracePeriod": "1h"}, &rotated))
	newSecret := rotated.Secret
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "order.refunded", "data": map[string]any{"n": 2, "note": "during rotation"}}, nil))
	during := next("the event during the rotation")

	// The rotation delivery carries two signatures; the old secret's is the last one.
	sigs := strings.Fields(during.header.Get(webhook.HeaderSignature))
	require.Len(t, sigs, 2, "signed with the new and the old secret")
	ts, err := strconv.ParseInt(during.header.Get(webhook.HeaderTimestamp), 10, 64)
	require.NoError(t, err)
	oldKey, err := webhook.ParseSecret(oldSecret)
	require.NoError(t, err)
	newKey, err := webhook.ParseSecret(newSecret)
	require.NoError(t, err)
	id := during.header.Get(webhook.HeaderID)
	assert.Equal(t, webhook.Sign(newKey, id, ts, during.body), sigs[0], "the new secret's signature first")
	assert.Equal(t, webhook.Sign(oldKey, id, ts, during.body), sigs[1], "the old secret's signature last")

	// The tampered delivery is the captured one with one byte of its body changed.
	tampered := capture{header: plain.header, body: bytes.Replace(plain.body, []byte(`"n":1`), []byte(`"n":7`), 1)}
	require.NotEqual(t, plain.body, tampered.body)

	// The timestamp 6 minutes old, done two ways. (1) The captured delivery, unmodified,
	// checked with the receiver's clock set 360 s after its webhook-timestamp: verify.mjs
	// replaces Date.now, which is the only clock both libraries read, and the Go package
	// takes Verifier.Now. The same delivery checked 300 s after is accepted, which shows that
	// the moved clock, not something else, is what rejects it. (2) The captured body and id
	// re-signed with the (known) old secret at a webhook-timestamp 360 s before the real
	// clock, checked with the real clock.
	plainTS, err := strconv.ParseInt(plain.header.Get(webhook.HeaderTimestamp), 10, 64)
	require.NoError(t, err)
	at := func(s int64) *int64 { return &s }
	resigned := capture{header: plain.header.Clone(), body: plain.body}
	oldTS := time.Now().Unix() - 360
	resigned.header.Set(webhook.HeaderTimestamp, strconv.FormatInt(oldTS, 10))
	resigned.header.Set(webhook.HeaderSignature, webhook.Sign(oldKey, plain.header.Get(webhook.HeaderID), oldTS, plain.body))

	vector := capture{header: http.Header{}, body: []byte(`{"test": 2432232314}`)}
	vector.header.Set(webhook.HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	vector.header.Set(webhook.HeaderTimestamp, "1614265330")
	vector.header.Set(webhook.HeaderSignature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	const noMatch, tooOld = "No matching signature found", "Message timestamp too old"
	cases := []interopCase{
		newCase("published test vector", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", vector, at(1614265330)).accepted(),
		newCase("plain delivery", oldSecret, plain, nil).accepted(),
		newCase("rotation, receiver on the old secret (valid signature last)", oldSecret, during, nil).accepted(),
		newCase("rotation, receiver on the new secret", newSecret, during, nil).accepted(),
		newCase("plain delivery, checked 300 s after its timestamp", oldSecret, plain, at(plainTS+300)).accepted(),
		newCase("plain delivery with a tampered body", oldSecret, tampered, nil).refused(noMatch, webhook.ErrNoMatchingSig),
		newCase("plain delivery, checked 360 s after its timestamp", oldSecret, plain, at(plainTS+360)).refused(tooOld, webhook.ErrTooOld),
		newCase("plain delivery re-signed with a timestamp 360 s old", oldSecret, resigned, nil).refused(tooOld, webhook.ErrTooOld),
		newCase("plain delivery, the new secret", newSecret, plain, nil).refused(noMatch, webhook.ErrNoMatchingSig),
	}

	file := filepath.Join(t.TempDir(), "cases.json")
	b, err := json.MarshalIndent(cases, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, b, 0o600))
	cmd := exec.Command(node, "verify.mjs", file)
	cmd.Dir = interopDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "node verify.mjs: %s", stderr.String())
	var report struct {
		Node    string `json:"node"`
		Results []struct {
			Name             string    `json:"name"`
			Standardwebhooks libResult `json:"standardwebhooks"`
			Svix             libResult `json:"svix"`
		} `json:"results"`
	}
	require.NoError(t, json.Unmarshal(out, &report), "%s", out)
	t.Logf("verified with node %s", report.Node)
	require.Len(t, report.Results, len(cases))

	for i, c := range cases {
		r := report.Results[i]
		require.Equal(t, c.Name, r.Name)
		for lib, res := range map[string]libResult{"standardwebhooks": r.Standardwebhooks, "svix": r.Svix} {
			if c.valid {
				assert.True(t, res.OK, "%s: %s refused it: %s", c.Name, lib, res.Error)
			} else {
				assert.False(t, res.OK, "%s: %s accepted it", c.Name, lib)
				assert.Equal(t, c.libErr, res.Error, "%s: %s", c.Name, lib)
			}
		}

		// The Go package on the same capture, with the same clock.
		v, err := webhook.NewVerifier(c.Secret)
		require.NoError(t, err)
		if c.Now != nil {
			now := time.Unix(*c.Now, 0)
			v.Now = func() time.Time { return now }
		}
		h := http.Header{}
		for k, val := range c.Headers {
			h.Set(k, val)
		}
		err = v.Verify(h, c.rawBody)
		if c.valid {
			assert.NoError(t, err, "%s: the Go package", c.Name)
		} else {
			assert.ErrorIs(t, err, c.goErr, "%s: the Go package", c.Name)
		}
	}
}
