package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHardeningDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(nil, env(validEnv), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, Hardening{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 65536,
		MaxBatchEvents: 100, MaxAdminBodyBytes: 65536, MaxURLLength: 2048, MaxEventTypes: 64,
		MaxDescriptionLength: 1024, MaxWorkflowIDLength: 256, MaxIdempotencyKeyLength: 255,
		MaxCustomHeaders: 20, MaxCustomHeaderBytes: 1024,
	}, cfg.Hardening)
	g := newGuard(cfg)
	assert.False(t, g.AllowPrivate, "the guard is on by default")
	assert.Empty(t, g.Allowed)
	assert.False(t, g.HTTPSOnly)
}

func TestHardeningSettings(t *testing.T) {
	t.Parallel()
	e := with(validEnv,
		"HOOKRELAY_ALLOWED_CIDRS", "10.1.0.0/16, fd00:1::/48",
		"HOOKRELAY_HTTPS_ONLY", "true",
		"HOOKRELAY_READ_HEADER_TIMEOUT", "2s",
		"HOOKRELAY_READ_TIMEOUT", "3s",
		"HOOKRELAY_WRITE_TIMEOUT", "4s",
		"HOOKRELAY_IDLE_TIMEOUT", "5s",
		"HOOKRELAY_MAX_HEADER_BYTES", "4096",
		"HOOKRELAY_MAX_BATCH_EVENTS", "7",
		"HOOKRELAY_MAX_ADMIN_BODY_BYTES", "1000",
		"HOOKRELAY_MAX_URL_LENGTH", "300",
		"HOOKRELAY_MAX_EVENT_TYPES", "3",
		"HOOKRELAY_MAX_DESCRIPTION_LENGTH", "20",
		"HOOKRELAY_MAX_WORKFLOW_ID_LENGTH", "30",
		"HOOKRELAY_MAX_CUSTOM_HEADERS", "5",
		"HOOKRELAY_MAX_CUSTOM_HEADER_BYTES", "200",
	)
	cfg, err := parseConfig([]string{"--max-idempotency-key-length", "40"}, env(e), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, Hardening{
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00:1::/48")},
		HTTPSOnly:    true, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 4 * time.Second,
		IdleTimeout: 5 * time.Second, MaxHeaderBytes: 4096, MaxBatchEvents: 7, MaxAdminBodyBytes: 1000, MaxURLLength: 300,
		MaxEventTypes: 3, MaxDescriptionLength: 20, MaxWorkflowIDLength: 30, MaxIdempotencyKeyLength: 40,
		MaxCustomHeaders: 5, MaxCustomHeaderBytes: 200,
	}, cfg.Hardening)

	hs := newHTTPServer(cfg, http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	assert.Equal(t, 2*time.Second, hs.ReadHeaderTimeout)
	assert.Equal(t, 3*time.Second, hs.ReadTimeout)
	assert.Equal(t, 4*time.Second, hs.WriteTimeout)
	assert.Equal(t, 5*time.Second, hs.IdleTimeout)
	assert.Equal(t, 4096, hs.MaxHeaderBytes)
	assert.NotNil(t, hs.ErrorLog)

	g := newGuard(cfg)
	assert.Equal(t, cfg.AllowedCIDRs, g.Allowed)
	assert.True(t, g.HTTPSOnly)
}

func TestHardeningSettingErrors(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]string{
		"HOOKRELAY_ALLOWED_CIDRS":              "10.0.0.0/33",
		"HOOKRELAY_HTTPS_ONLY":                 "yes please",
		"HOOKRELAY_READ_HEADER_TIMEOUT":        "0s",
		"HOOKRELAY_READ_TIMEOUT":               "-1s",
		"HOOKRELAY_WRITE_TIMEOUT":              "soon",
		"HOOKRELAY_IDLE_TIMEOUT":               "10",
		"HOOKRELAY_MAX_HEADER_BYTES":           "0",
		"HOOKRELAY_MAX_BATCH_EVENTS":           "-3",
		"HOOKRELAY_MAX_ADMIN_BODY_BYTES":       "64k",
		"HOOKRELAY_MAX_URL_LENGTH":             "x",
		"HOOKRELAY_MAX_EVENT_TYPES":            "0",
		"HOOKRELAY_MAX_DESCRIPTION_LENGTH":     "1.5",
		"HOOKRELAY_MAX_WORKFLOW_ID_LENGTH":     "abc",
		"HOOKRELAY_MAX_IDEMPOTENCY_KEY_LENGTH": "-",
		"HOOKRELAY_MAX_CUSTOM_HEADERS":         "0",
		"HOOKRELAY_MAX_CUSTOM_HEADER_BYTES":    "1k",
	} {
		_, err := parseConfig(nil, env(with(validEnv, name, want)), io.Discard)
		assert.ErrorContains(t, err, "invalid "+name, "%s=%q", name, want)
	}
}

// TestRunWiresTheGuard starts the server with the default settings: a webhook on a loopback
// address is refused with the guard's reason; with the range allowed it is accepted.
func TestRunWiresTheGuard(t *testing.T) {
	t.Parallel()
	create := func(url, target string) (int, string) {
		req, _ := http.NewRequest("POST", url+"/api/v1/webhooks",
			strings.NewReader(`{"url":"`+target+`","eventTypes":["*"]}`))
		req.Header.Set("Authorization", "Bearer "+validEnv["HOOKRELAY_ADMIN_TOKEN"])
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body struct {
			Error struct{ Message, Field string }
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error.Field + ": " + body.Error.Message
	}

	url, _, _ := startRun(t, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "a.db")}, validEnv)
	status, msg := create(url, "http://127.0.0.1:9/hook")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "url: destination 127.0.0.1 blocked: loopback", msg)
	status, msg = create(url, "http://169.254.169.254/latest/meta-data/")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, msg, "metadata")

	allowed, _, _ := startRun(t, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "b.db")},
		with(validEnv, "HOOKRELAY_ALLOWED_CIDRS", "127.0.0.0/8"))
	status, msg = create(allowed, "http://127.0.0.1:9/hook")
	assert.Equal(t, http.StatusCreated, status, msg)

	httpsOnly, _, _ := startRun(t, []string{"--addr", "127.0.0.1:0", "--db", filepath.Join(t.TempDir(), "c.db")},
		with(validEnv, "HOOKRELAY_HTTPS_ONLY", "true", "HOOKRELAY_ALLOW_PRIVATE_NETWORKS", "true"))
	status, msg = create(httpsOnly, "http://127.0.0.1:9/hook")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, msg, "only https:// URLs are allowed")
	status, msg = create(httpsOnly, "https://127.0.0.1:9/hook")
	assert.Equal(t, http.StatusCreated, status, msg)
}

// TestEverySettingIsDocumented keeps the settings table of docs/configuration.md in step
// with the settings in code: each setting has exactly one row with its variable, flag and
// default, and no row names a setting that does not exist.
func TestEverySettingIsDocumented(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("../../docs/configuration.md")
	require.NoError(t, err)
	assert.Empty(t, settingsTableProblems(string(page)))
}

// TestSettingsTableProblems shows that the check above catches each kind of drift.
func TestSettingsTableProblems(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("../../docs/configuration.md")
	require.NoError(t, err)
	good := string(page)
	addrRow := "| `HOOKRELAY_ADDR` | `--addr` | `127.0.0.1:8080` |"
	require.Contains(t, good, addrRow)
	i := strings.Index(good, addrRow)
	line := good[i : i+strings.Index(good[i:], "\n")+1]
	for _, tc := range []struct {
		name, page, want string
	}{
		{"missing row", strings.Replace(good, line, "", 1), "HOOKRELAY_ADDR (--addr): no row"},
		{"two rows", strings.Replace(good, line, line+line, 1), "HOOKRELAY_ADDR (--addr): 2 rows"},
		{"wrong flag", strings.Replace(good, "| `--addr` |", "| `--address` |", 1), "HOOKRELAY_ADDR: flag"},
		{"wrong default", strings.Replace(good, "| `127.0.0.1:8080` |", "| `:8080` |", 1), "HOOKRELAY_ADDR: default"},
		{"unknown setting", strings.Replace(good, line, line+"| `HOOKRELAY_NOPE` | `--nope` | — | gone |\n", 1), "HOOKRELAY_NOPE: no such setting"},
		{"env-only given a flag", strings.Replace(good, "| `HOOKRELAY_SMTP_PASSWORD` | — (environment only) |", "| `HOOKRELAY_SMTP_PASSWORD` | `--smtp-password` |", 1), "HOOKRELAY_SMTP_PASSWORD: flag"},
		{"no table", "# Configuration\n", "no settings table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.NotEqual(t, good, tc.page, "the case must change the page")
			problems := settingsTableProblems(tc.page)
			assert.True(t, slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }),
				"want a problem containing %q, got %q", tc.want, problems)
		})
	}
}

// settingsTableProblems lists every way the settings table in page (the table whose header
// is "| environment variable | flag | default | meaning |") differs from the settings in code.
func settingsTableProblems(page string) []string {
	const header = "| environment variable | flag | default | meaning |"
	_, table, ok := strings.Cut(page, header+"\n")
	if !ok {
		return []string{"no settings table (header " + header + ")"}
	}
	type want struct{ flag, def string }
	wants := map[string]want{}
	for _, s := range allSettings() {
		def := "`" + s.def + "`"
		if s.def == "" {
			def = "—"
		}
		wants[envName(s.name)] = want{"`--" + s.name + "`", def}
	}
	// The two secrets that are never flags, so that they do not show in ps.
	for _, env := range []string{encryptionKeyEnv, smtpPasswordEnv} {
		wants[env] = want{"— (environment only)", "—"}
	}

	var problems []string
	rows := map[string]int{}
	for line := range strings.Lines(table) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			break // the table ends at its first non-row line
		}
		if strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 4 {
			problems = append(problems, fmt.Sprintf("row %q: %d cells, want 4", line, len(cells)))
			continue
		}
		env := strings.Trim(strings.TrimSpace(cells[0]), "`")
		flag, def, meaning := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])
		w, ok := wants[env]
		if !ok {
			problems = append(problems, env+": no such setting, but it has a row")
			continue
		}
		rows[env]++
		if flag != w.flag {
			problems = append(problems, fmt.Sprintf("%s: flag %s, want %s", env, flag, w.flag))
		}
		if def != w.def && !strings.HasPrefix(def, w.def+" (") {
			problems = append(problems, fmt.Sprintf("%s: default %s, want %s", env, def, w.def))
		}
		if meaning == "" {
			problems = append(problems, env+": no meaning")
		}
	}
	for env, w := range wants {
		name := env
		if strings.HasPrefix(w.flag, "`--") {
			name += " (" + strings.Trim(w.flag, "`") + ")"
		}
		switch n := rows[env]; {
		case n == 0:
			problems = append(problems, name+": no row")
		case n > 1:
			problems = append(problems, fmt.Sprintf("%s: %d rows", name, n))
		}
	}
	slices.Sort(problems)
	return problems
}
