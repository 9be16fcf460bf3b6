package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/webhook"
)

// listener is a running `hookrelay listen`.
type listener struct {
	t     *testing.T
	url   string
	lines chan string
}

// startListen runs `hookrelay listen` with args and environment e until the test ends.
func startListen(t *testing.T, args []string, e map[string]string) *listener {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runListen(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), env(e), pw, io.Discard)
		pw.Close()
	}()
	l := &listener{t: t, lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l.lines <- sc.Text()
		}
		close(l.lines)
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	l.url = regexp.MustCompile(`http://[0-9.:]+`).FindString(<-l.lines)
	require.NotEmpty(t, l.url)
	return l
}

// send POSTs a delivery of evt_1 with the given signature header (signed with keys when
// sig is empty) and returns the status.
func (l *listener) send(sig string, keys ...[]byte) int {
	l.t.Helper()
	body := `{"id":"evt_1","eventType":"workflow.completed","data":{}}`
	req, _ := http.NewRequest("POST", l.url+"/hook", strings.NewReader(body))
	ts := time.Now().Unix()
	if sig == "" {
		sig = webhook.SignatureHeader(keys, "evt_1", ts, []byte(body))
	}
	req.Header.Set("webhook-id", "evt_1")
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(l.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// line returns the next printed line that starts with prefix.
func (l *listener) line(prefix string) string {
	l.t.Helper()
	for s := range l.lines {
		if strings.HasPrefix(strings.TrimSpace(s), prefix) {
			return s
		}
	}
	l.t.Fatalf("no line starting %q", prefix)
	return ""
}

func makeSecret(t *testing.T) (string, []byte) {
	t.Helper()
	s := webhook.NewSecret()
	k, err := webhook.ParseSecret(s)
	require.NoError(t, err)
	return s, k
}

func TestListenVerifiesAndAnswers(t *testing.T) {
	t.Parallel()
	secret, key := makeSecret(t)
	l := startListen(t, []string{"--secret", secret, "--status", "503"}, nil)

	assert.Equal(t, 503, l.send("", key), "answers with the chosen status")
	assert.Contains(t, l.line("signature:"), "valid signature")
	assert.Equal(t, 503, l.send("v1,AAAA"))
	assert.Contains(t, l.line("signature:"), "INVALID")
}

// During a rotation hookrelay signs with the new and the old secret; listen accepts several
// secrets and says which one matched.
func TestListenWithSeveralSecrets(t *testing.T) {
	t.Parallel()
	oldSecret, oldKey := makeSecret(t)
	newSecret, newKey := makeSecret(t)
	_, otherKey := makeSecret(t)

	l := startListen(t, []string{"--secret", newSecret, "--secret", oldSecret}, nil)
	assert.Equal(t, 200, l.send("", newKey, oldKey))
	assert.Contains(t, l.line("signature:"), "valid signature (secret 1 of 2)")
	assert.Equal(t, 200, l.send("", oldKey))
	assert.Contains(t, l.line("signature:"), "valid signature (secret 2 of 2)")
	l.send("", otherKey)
	assert.Contains(t, l.line("signature:"), "INVALID: webhook: no matching signature")

	// The same from the environment, separated by a comma or spaces.
	l = startListen(t, nil, map[string]string{"HOOKRELAY_LISTEN_SECRET": newSecret + ", " + oldSecret})
	l.send("", oldKey)
	assert.Contains(t, l.line("signature:"), "valid signature (secret 2 of 2)")
}

func TestListenRejectsBadSecret(t *testing.T) {
	t.Parallel()
	err := runListen(t.Context(), []string{"--secret", webhook.NewSecret(), "--secret", "nope"}, env(nil), io.Discard, io.Discard)
	require.ErrorContains(t, err, "invalid --secret (number 2)")
	assert.NotContains(t, err.Error(), "nope")
}
