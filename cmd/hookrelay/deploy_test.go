package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeployFilesGiveAValidConfiguration reads the example environment file and the
// Environment= lines of the systemd unit in deploy/, as systemd would hand them to the
// server, with the credentials the unit loads in place, and checks that every variable
// named is a setting and that together they make a configuration the server starts with.
// (e2e/deploy_test.go checks the unit itself with systemd-analyze.)
func TestDeployFilesGiveAValidConfiguration(t *testing.T) {
	t.Parallel()
	known := map[string]bool{encryptionKeyEnv: true, smtpPasswordEnv: true}
	for _, s := range allSettings() {
		known[envName(s.name)] = true
	}
	creds := t.TempDir() // the unit's %d, where systemd puts LoadCredential= files
	for name, v := range map[string]string{
		"ingest-token":   "deploy-ingest-token-0123456789",
		"admin-token":    "deploy-admin-token-0123456789",
		"encryption-key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(creds, name), []byte(v+"\n"), 0o600))
	}

	vars := map[string]string{}
	read := func(path string, parse func(line string) (string, bool)) {
		f, err := os.Open(path)
		require.NoError(t, err)
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			kv, commented := parse(line)
			key, value, ok := strings.Cut(kv, "=")
			if !ok || !strings.HasPrefix(key, "HOOKRELAY_") {
				continue
			}
			assert.True(t, known[key], "%s names %s, which is not a setting", path, key)
			if !commented {
				vars[key] = strings.ReplaceAll(value, "%d", creds)
			}
		}
		require.NoError(t, sc.Err())
	}
	read("../../deploy/hookrelay.env", func(line string) (string, bool) {
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			return rest, true // an example left commented out must still be a real setting
		}
		return line, false
	})
	read("../../deploy/hookrelay.service", func(line string) (string, bool) {
		rest, ok := strings.CutPrefix(line, "Environment=")
		return rest, !ok
	})
	for _, want := range []string{"HOOKRELAY_DB", "HOOKRELAY_INGEST_TOKEN_FILE", "HOOKRELAY_ADMIN_TOKEN_FILE",
		"HOOKRELAY_ENCRYPTION_KEY_FILE", "HOOKRELAY_BASE_URL", "HOOKRELAY_ADDR"} {
		assert.Contains(t, vars, want)
	}

	cfg, err := parseConfig(nil, env(vars), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "deploy-ingest-token-0123456789", cfg.IngestToken)
	assert.Equal(t, "deploy-admin-token-0123456789", cfg.AdminToken)
	assert.Len(t, cfg.EncryptionKey, 32)
	assert.Equal(t, "/var/lib/hookrelay/hookrelay.db", cfg.DBPath)
	assert.Equal(t, "127.0.0.1:8080", cfg.Addr, "behind the reverse proxy, on loopback")
	assert.Equal(t, "https://hookrelay.example.com", cfg.BaseURL)
}
