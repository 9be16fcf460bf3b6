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

	"hookrelay/webhook"
)

func TestListenVerifiesAndAnswers(t *testing.T) {
	t.Parallel()
	secret := webhook.NewSecret()
	key, err := webhook.ParseSecret(secret)
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- runListen(ctx, []string{"--addr", "127.0.0.1:0", "--secret", secret, "--status", "503"}, env(nil), pw, io.Discard)
		pw.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	url := regexp.MustCompile(`http://[0-9.:]+`).FindString(<-lines)
	require.NotEmpty(t, url)

	send := func(sig string) int {
		body := `{"id":"evt_1","eventType":"workflow.completed","data":{}}`
		req, _ := http.NewRequest("POST", url+"/hook", strings.NewReader(body))
		ts := time.Now().Unix()
		if sig == "" {
			sig = webhook.Sign(key, "evt_1", ts, []byte(body))
		}
		req.Header.Set("webhook-id", "evt_1")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	readUntil := func(prefix string) string {
		for l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return l
			}
		}
		t.Fatalf("no line starting %q", prefix)
		return ""
	}

	assert.Equal(t, 503, send(""), "answers with the chosen status")
	assert.Contains(t, readUntil("signature:"), "valid signature")
	assert.Equal(t, 503, send("v1,AAAA"))
	assert.Contains(t, readUntil("signature:"), "INVALID")

	cancel()
	require.NoError(t, <-done)
}

func TestListenRejectsBadSecret(t *testing.T) {
	t.Parallel()
	err := runListen(t.Context(), []string{"--secret", "nope"}, env(nil), io.Discard, io.Discard)
	require.ErrorContains(t, err, "invalid --secret")
}
