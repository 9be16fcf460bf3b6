package bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// fetchProfile takes a CPU profile of d from the server's pprof listener and writes it to path.
func fetchProfile(ctx context.Context, client *http.Client, addr string, d time.Duration, path string) (string, error) {
	if addr == "" {
		return "", fmt.Errorf("no pprof address")
	}
	c := *client
	c.Timeout = d + 30*time.Second
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetch profile (does the server have HOOKRELAY_PPROF_ADDR?): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetch profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if _, err := f.ReadFrom(resp.Body); err != nil {
		f.Close()
		return "", fmt.Errorf("write profile: %w", err)
	}
	return path, f.Close()
}
