//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/internal/testsuite"
)

// The monitoring kit of docs/monitoring/ is tested with the tools it is for: promtool checks
// and unit-tests the alerting rules, and a real Prometheus scrapes the real binary with them
// loaded, and answers every query of the Grafana dashboard. Both tools come from Debian's
// prometheus package, which .ci/run installs.

const (
	monitoringDir = "../docs/monitoring"
	metricsToken  = "e2e-metrics-token-0123456789"
)

func prometheusMissing() string {
	var missing []string
	for _, tool := range []string{"promtool", "prometheus"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "not found: " + strings.Join(missing, " and ") +
		"; install Debian's prometheus package (apt-get install --no-install-recommends prometheus), as .ci/run does"
}

func TestAlertingRulesPassPromtool(t *testing.T) {
	t.Parallel()
	testsuite.Require(t, prometheusSuite, testsuite.CIMode(os.Getenv))
	for _, args := range [][]string{
		{"check", "rules", "rules.yml"},
		{"test", "rules", "rules_test.yml"},
	} {
		cmd := exec.Command("promtool", args...)
		cmd.Dir = monitoringDir
		out, err := cmd.CombinedOutput()
		assert.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
		assert.Contains(t, string(out), "SUCCESS", "promtool %s", strings.Join(args, " "))
	}
}

// TestGrafanaDashboardIsWellFormed checks what Grafana needs to import the dashboard: valid
// JSON, a uid, panels with unique ids and a place on the grid, and a query in every panel
// that is not a row, on the data source variable.
func TestGrafanaDashboardIsWellFormed(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	assert.Equal(t, "hookrelay", d.UID)
	assert.NotEmpty(t, d.Title)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d used twice", p.ID)
		ids[p.ID] = true
		assert.Positive(t, p.GridPos.W, "panel %q has no width", p.Title)
		assert.Positive(t, p.GridPos.H, "panel %q has no height", p.Title)
		assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panel %q overflows the grid", p.Title)
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			assert.NotEmpty(t, tg.Expr, "panel %q", p.Title)
			assert.Equal(t, "${datasource}", tg.Datasource.UID, "panel %q queries the chosen data source", p.Title)
		}
	}
	assert.Greater(t, len(d.Panels), 10)
}

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		GridPos struct {
			X, Y, W, H int
		} `json:"gridPos"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d))
	return d
}

// dashboardQueries returns every query of the dashboard as Prometheus gets it from Grafana,
// the variables filled in.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			out = append(out, strings.NewReplacer("$job", "hookrelay", "$__rate_interval", "15s").Replace(tg.Expr))
		}
	}
	return out
}

// TestPrometheusScrapesTheServer runs Debian's Prometheus against the real binary, with the
// alerting rules loaded: it scrapes GET /metrics on the main address with the metrics token,
// and hookrelay_events_ingested_total comes back through its query API once events are
// ingested. Every rule evaluates without error, and every query of the dashboard runs and
// names only metrics the server exposes.
func TestPrometheusScrapesTheServer(t *testing.T) {
	t.Parallel()
	testsuite.Require(t, prometheusSuite, testsuite.CIMode(os.Getenv))
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer rcv.Close()
	srv := startServer(t, "", "HOOKRELAY_METRICS_TOKEN="+metricsToken)
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": rcv.URL + "/hook", "eventTypes": []string{"*"}}, nil))
	target := strings.TrimPrefix(srv.URL, "http://")

	prom := startPrometheus(t, target)

	eventually(t, "Prometheus to scrape the server", func() bool {
		v, ok := prom.scalar(t, `up{job="hookrelay"}`)
		return ok && v == "1"
	})
	const events = 7
	for i := range events {
		require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
			map[string]any{"eventType": "prom.test", "data": map[string]int{"n": i}}, nil))
	}
	eventually(t, "hookrelay_events_ingested_total to reach Prometheus", func() bool {
		v, ok := prom.scalar(t, `hookrelay_events_ingested_total{job="hookrelay"}`)
		return ok && v == fmt.Sprint(events)
	})
	eventually(t, "the deliveries' attempts to reach Prometheus", func() bool {
		v, ok := prom.scalar(t, `sum(hookrelay_delivery_attempts_total{job="hookrelay", outcome="success"})`)
		return ok && v == fmt.Sprint(events)
	})

	// The rules are loaded, evaluated, and none errs.
	eventually(t, "every alerting rule to be evaluated", func() bool {
		var res struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name, Health, LastError string
						LastEvaluation          time.Time
					}
				}
			}
		}
		prom.get(t, "/api/v1/rules", nil, &res)
		n := 0
		for _, g := range res.Data.Groups {
			for _, r := range g.Rules {
				if r.LastEvaluation.IsZero() || r.LastEvaluation.Year() < 2000 {
					return false
				}
				assert.Equal(t, "ok", r.Health, "rule %s: %s", r.Name, r.LastError)
				n++
			}
		}
		return n == 4
	})

	// Every metric the dashboard and the rules name is one the server exposes.
	var names struct {
		Data []string
	}
	prom.get(t, "/api/v1/label/__name__/values", url.Values{"match[]": {`{job="hookrelay"}`}}, &names)
	rules, err := os.ReadFile(filepath.Join(monitoringDir, "rules.yml"))
	require.NoError(t, err)
	queries := dashboardQueries(t)
	for _, name := range regexp.MustCompile(`\b(?:hookrelay|go|process)_[a-z_]+\b`).FindAllString(strings.Join(queries, "\n")+string(rules), -1) {
		assert.True(t, slices.Contains(names.Data, name), "%s is named in docs/monitoring but not exposed", name)
	}
	for _, q := range queries {
		var res struct{ Status, Error string }
		status := prom.get(t, "/api/v1/query", url.Values{"query": {q}}, &res)
		assert.Equal(t, http.StatusOK, status, "dashboard query %s: %s", q, res.Error)
		assert.Equal(t, "success", res.Status, "dashboard query %s: %s", q, res.Error)
	}
}

// prometheus is a running Prometheus server.
type prometheus struct {
	url string
}

// startPrometheus runs Debian's Prometheus on a free loopback port with a temporary
// configuration and storage: it scrapes target every second, as job hookrelay with the
// metrics token, and evaluates docs/monitoring/rules.yml every second. It stops with the test.
func startPrometheus(t *testing.T, target string) *prometheus {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join(monitoringDir, "rules.yml"))
	require.NoError(t, err)
	config := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(config, []byte(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - `+rules+`
scrape_configs:
  - job_name: hookrelay
    authorization:
      credentials: `+metricsToken+`
    static_configs:
      - targets: ["`+target+`"]
`), 0o600))

	// Prometheus cannot report a port it picked, so a free one is picked here; another
	// process may take it first, and then Prometheus exits and is started again.
	for try := 1; ; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		var out bytes.Buffer
		cmd := exec.Command("prometheus", "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
			"--web.listen-address="+addr, "--log.level=warn")
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		p := &prometheus{url: "http://" + addr}
		ready := false
		deadline := time.Now().Add(30 * time.Second)
		for !ready && time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			if resp, err := http.Get(p.url + "/-/ready"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == http.StatusOK
			}
			if !ready {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if ready {
			t.Cleanup(func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
				if t.Failed() {
					t.Logf("prometheus output:\n%s", out.String())
				}
			})
			return p
		}
		cmd.Process.Kill()
		<-exited
		if try == 3 {
			t.Fatalf("prometheus did not become ready:\n%s", out.String())
		}
	}
}

// get calls Prometheus's HTTP API and decodes the answer into out.
func (p *prometheus) get(t *testing.T, path string, q url.Values, out any) int {
	t.Helper()
	u := p.url + path
	if q != nil {
		u += "?" + q.Encode()
	}
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(out), "GET %s", u)
	return resp.StatusCode
}

// scalar runs an instant query that should return one series, and returns its value.
func (p *prometheus) scalar(t *testing.T, query string) (string, bool) {
	t.Helper()
	var res struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	p.get(t, "/api/v1/query", url.Values{"query": {query}}, &res)
	if res.Status != "success" || len(res.Data.Result) != 1 {
		return "", false
	}
	v, _ := res.Data.Result[0].Value[1].(string)
	return v, true
}
