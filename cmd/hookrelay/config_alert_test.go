package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/alert"
	"github.com/hookrelay/hookrelay/alert/alerttest"
)

func TestAlertConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Empty(t, cfg.BaseURL, "run uses http:// + the bound address")
	assert.Empty(t, cfg.Alert.Emails)
	assert.Equal(t, time.Hour, cfg.Alert.Window)
	assert.Empty(t, cfg.Alert.SMTPAddr)
	assert.Equal(t, alert.TLSOpportunistic, cfg.Alert.SMTPTLS)
	assert.Equal(t, 30*time.Second, cfg.Alert.SMTPTimeout)
	assert.Nil(t, cfg.Alert.mailer(), "no SMTP server: email is off")
}

func TestAlertConfigFromEnvAndFlags(t *testing.T) {
	t.Parallel()
	e := with(validEnv,
		"HOOKRELAY_ALERT_EMAILS", "ops@example.com, Oncall <oncall@example.com>",
		"HOOKRELAY_ALERT_WINDOW", "15m",
		"HOOKRELAY_SMTP_ADDR", "smtp.example.com:587",
		"HOOKRELAY_SMTP_USERNAME", "relay",
		"HOOKRELAY_SMTP_PASSWORD", "pa55word",
		"HOOKRELAY_SMTP_FROM", "Hookrelay <hookrelay@example.com>",
		"HOOKRELAY_SMTP_TLS", "mandatory",
		"HOOKRELAY_SMTP_TIMEOUT", "5s",
		"HOOKRELAY_BASE_URL", "https://hooks.example.com/",
	)
	cfg, err := parseConfig([]string{"--smtp-tls", "none"}, env(e), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, []string{"ops@example.com", "oncall@example.com"}, cfg.Alert.Emails)
	assert.Equal(t, 15*time.Minute, cfg.Alert.Window)
	assert.Equal(t, "https://hooks.example.com", cfg.BaseURL, "a trailing slash is dropped")
	assert.Equal(t, alert.TLSNone, cfg.Alert.SMTPTLS, "the flag wins")
	assert.Equal(t, &alert.SMTP{Addr: "smtp.example.com:587", Username: "relay", Password: "pa55word",
		From: "Hookrelay <hookrelay@example.com>", TLS: alert.TLSNone, Timeout: 5 * time.Second}, cfg.Alert.mailer())

	_, err = parseConfig([]string{"--smtp-password", "x"}, env(validEnv), io.Discard)
	assert.ErrorContains(t, err, "flag provided but not defined: -smtp-password", "a secret is never a flag")
}

func TestBadAlertSettingsStopStartUp(t *testing.T) {
	t.Parallel()
	smtp := with(validEnv, "HOOKRELAY_SMTP_ADDR", "smtp.example.com:587", "HOOKRELAY_SMTP_FROM", "hookrelay@example.com")
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"address without port", with(smtp, "HOOKRELAY_SMTP_ADDR", "smtp.example.com"), nil, "invalid HOOKRELAY_SMTP_ADDR (--smtp-addr): \"smtp.example.com\" is not host:port"},
		{"address with a named port", smtp, []string{"--smtp-addr", "smtp.example.com:smtp"}, "invalid HOOKRELAY_SMTP_ADDR (--smtp-addr)"},
		{"address port out of range", with(smtp, "HOOKRELAY_SMTP_ADDR", "smtp.example.com:65536"), nil, "HOOKRELAY_SMTP_ADDR (--smtp-addr): \"smtp.example.com:65536\": the port"},
		{"address without host", with(smtp, "HOOKRELAY_SMTP_ADDR", ":25"), nil, "invalid HOOKRELAY_SMTP_ADDR"},
		{"unknown TLS mode", with(smtp, "HOOKRELAY_SMTP_TLS", "starttls"), nil, "invalid HOOKRELAY_SMTP_TLS (--smtp-tls): unknown TLS mode \"starttls\" (want mandatory, opportunistic or none)"},
		{"TLS mode in capitals", smtp, []string{"--smtp-tls", "None"}, "invalid HOOKRELAY_SMTP_TLS"},
		{"from is not an address", with(smtp, "HOOKRELAY_SMTP_FROM", "hookrelay"), nil, "invalid HOOKRELAY_SMTP_FROM (--smtp-from)"},
		{"from missing", with(smtp, "HOOKRELAY_SMTP_FROM", ""), nil, "invalid HOOKRELAY_SMTP_FROM (--smtp-from): required when HOOKRELAY_SMTP_ADDR is set"},
		{"password without user", with(smtp, "HOOKRELAY_SMTP_PASSWORD", "x"), nil, "invalid HOOKRELAY_SMTP_USERNAME (--smtp-username): required when HOOKRELAY_SMTP_PASSWORD is set"},
		{"timeout zero", with(smtp, "HOOKRELAY_SMTP_TIMEOUT", "0s"), nil, "invalid HOOKRELAY_SMTP_TIMEOUT (--smtp-timeout)"},
		{"recipients", with(validEnv, "HOOKRELAY_ALERT_EMAILS", "ops@example.com; dev@example.com"), nil, "invalid HOOKRELAY_ALERT_EMAILS (--alert-emails)"},
		{"recipient without domain", with(validEnv, "HOOKRELAY_ALERT_EMAILS", "ops"), nil, "invalid HOOKRELAY_ALERT_EMAILS"},
		{"window", with(validEnv, "HOOKRELAY_ALERT_WINDOW", "an hour"), nil, "invalid HOOKRELAY_ALERT_WINDOW (--alert-window)"},
		{"window negative", validEnv, []string{"--alert-window", "-1h"}, "invalid HOOKRELAY_ALERT_WINDOW"},
		{"base URL relative", with(validEnv, "HOOKRELAY_BASE_URL", "hooks.example.com"), nil, "invalid HOOKRELAY_BASE_URL (--base-url)"},
		{"base URL scheme", with(validEnv, "HOOKRELAY_BASE_URL", "ftp://hooks.example.com"), nil, "invalid HOOKRELAY_BASE_URL"},
		{"base URL query", with(validEnv, "HOOKRELAY_BASE_URL", "https://hooks.example.com/?a=b"), nil, "invalid HOOKRELAY_BASE_URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(tc.args, env(tc.env), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)

			// The server does not start: run fails before it opens the database.
			dbPath := filepath.Join(t.TempDir(), "hookrelay.db")
			err = run(t.Context(), append([]string{"--db", dbPath}, tc.args...), env(tc.env), io.Discard, io.Discard)
			require.ErrorContains(t, err, tc.want)
			_, statErr := os.Stat(dbPath)
			assert.True(t, os.IsNotExist(statErr), "no database is created when settings are bad")
		})
	}
}

// runLogged runs the server until its alert sender has logged whether email is on, stops
// it, and returns everything it logged.
func runLogged(t *testing.T, e map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	var (
		mu  sync.Mutex
		log bytes.Buffer
	)
	seen := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		sc := bufio.NewScanner(pr)
		once := sync.OnceFunc(func() { close(seen) })
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "alert email is") {
				once()
			}
		}
	})
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "h.db")}, env(e), pw, io.Discard)
		pw.Close()
	}()
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("the server stopped early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no alert email line in the log")
	}
	cancel()
	require.NoError(t, <-done)
	readers.Wait()
	mu.Lock()
	defer mu.Unlock()
	return log.String()
}

func TestStartUpSaysOnceWhetherAlertEmailIsOn(t *testing.T) {
	t.Parallel()
	out := runLogged(t, validEnv)
	assert.Equal(t, 1, strings.Count(out, "alert email is off"), out)
	assert.Contains(t, out, "no SMTP server is configured (HOOKRELAY_SMTP_ADDR)")

	// An SMTP server but nobody to send to: no HOOKRELAY_ALERT_EMAILS and no admin user.
	smtpSrv := alerttest.Start(t)
	out = runLogged(t, with(validEnv, "HOOKRELAY_SMTP_ADDR", smtpSrv.Addr, "HOOKRELAY_SMTP_FROM", "h@example.com"))
	assert.Equal(t, 1, strings.Count(out, "alert email is off"), out)
	assert.Contains(t, out, "no recipients")

	// Without HOOKRELAY_ALERT_EMAILS, the admin users are the recipients.
	out = runLogged(t, with(validEnv, "HOOKRELAY_SMTP_ADDR", smtpSrv.Addr, "HOOKRELAY_SMTP_FROM", "h@example.com",
		"HOOKRELAY_ADMIN_EMAIL", "admin@example.com", "HOOKRELAY_ADMIN_PASSWORD", "admin-password-1", "HOOKRELAY_PASSWORD_COST", "4"))
	assert.Contains(t, out, "alert email is on")

	out = runLogged(t, with(validEnv, "HOOKRELAY_SMTP_ADDR", smtpSrv.Addr, "HOOKRELAY_SMTP_FROM", "h@example.com",
		"HOOKRELAY_SMTP_USERNAME", "relay", "HOOKRELAY_SMTP_PASSWORD", "very-secret-password-42",
		"HOOKRELAY_ALERT_EMAILS", "ops@example.com"))
	assert.Contains(t, out, "alert email is on")
	assert.NotContains(t, out, "alert email is off")
	assert.NotContains(t, out, "very-secret-password-42", "the SMTP password is never logged")
}
