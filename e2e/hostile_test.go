//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHostileConnections attacks the real server's sockets: huge headers, headers and bodies
// that never finish (slowloris), a Content-Length that lies, and idle keep-alive connections.
// Each is cut off by its setting, nothing is stored, and the server keeps serving.
func TestHostileConnections(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "",
		"HOOKRELAY_READ_HEADER_TIMEOUT=300ms",
		"HOOKRELAY_READ_TIMEOUT=1s",
		"HOOKRELAY_IDLE_TIMEOUT=500ms",
		"HOOKRELAY_MAX_HEADER_BYTES=8192",
	)
	var wh struct{ ID string }
	require.Equal(t, 201, srv.api(t, "POST", "/api/v1/webhooks", adminToken,
		map[string]any{"url": "http://127.0.0.1:9/hook", "eventTypes": []string{"*"}, "enabled": false}, &wh))
	addr := strings.TrimPrefix(srv.URL, "http://")
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedWithin reads until the server closes the connection and returns what it sent and
	// how long that took. The deadline only guards against a hang.
	closedWithin := func(c net.Conn, limit time.Duration) (string, time.Duration) {
		start := time.Now()
		c.SetReadDeadline(start.Add(limit))
		b, err := io.ReadAll(c)
		require.NoError(t, err, "the server did not close the connection within %v", limit)
		return string(b), time.Since(start)
	}
	event := `{"eventType":"a.b","data":{}}`
	head := func(extra string) string {
		return "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ingestToken +
			"\r\nContent-Type: application/json\r\n" + extra
	}

	t.Run("huge header", func(t *testing.T) {
		req, err := http.NewRequest("POST", srv.URL+"/api/v1/events", strings.NewReader(event))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Padding", strings.Repeat("p", 64<<10))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	})

	t.Run("many headers", func(t *testing.T) {
		c := dial()
		var b strings.Builder
		for i := range 2000 {
			fmt.Fprintf(&b, "X-H%d: v\r\n", i)
		}
		fmt.Fprintf(c, "%sContent-Length: %d\r\n%s\r\n%s", head(""), len(event), b.String(), event)
		out, _ := closedWithin(c, 10*time.Second)
		assert.True(t, strings.HasPrefix(out, "HTTP/1.1 431 "), "answer: %.80q", out)
	})

	t.Run("headers that never finish", func(t *testing.T) {
		c := dial()
		io.WriteString(c, head("X-Slow: "))
		out, took := closedWithin(c, 10*time.Second)
		assert.GreaterOrEqual(t, took, 250*time.Millisecond)
		assert.NotContains(t, out, " 202 ")
	})

	t.Run("body that never finishes", func(t *testing.T) {
		c := dial()
		fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n%s", head(""), len(event)+100, event) // promises 100 bytes more
		out, took := closedWithin(c, 10*time.Second)
		assert.GreaterOrEqual(t, took, 900*time.Millisecond, "cut off by the read timeout")
		assert.True(t, strings.HasPrefix(out, "HTTP/1.1 400 "), "answer: %.200q", out)
		assert.Contains(t, out, "invalid_json")
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		_, took := closedWithin(c, 10*time.Second)
		assert.GreaterOrEqual(t, took, 400*time.Millisecond)
	})

	t.Run("a crowd of slow clients does not starve others", func(t *testing.T) {
		for range 100 {
			io.WriteString(dial(), head("X-Slow: "))
		}
		resp, err := http.Get(srv.URL + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
	})

	t.Run("raw request lines", func(t *testing.T) {
		for _, tc := range []struct{ line, status string }{
			{"GET /static/../../../../etc/passwd HTTP/1.1", "404"},
			{"GET /api/v1/../../etc/passwd HTTP/1.1", "404"},
			{"GET /api/v1/webhooks/%2e%2e%2f%2e%2e%2fetc%2fpasswd HTTP/1.1", "404"},
			{"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1", "404"}, // not a proxy
			{"CONNECT 169.254.169.254:80 HTTP/1.1", "405"},                   // no CONNECT route; nothing is tunnelled
			{"BREW /api/v1/webhooks HTTP/1.1", "405"},
			{"GET /api/v1/webhooks HTTP/9.9", "505"},
			{"GET /\x00 HTTP/1.1", "400"},
			{"GET / HTTP/1.1\r\nHost: x\r\nHost: y", "400"},
		} {
			line := strings.NewReplacer(`\x00`, "\x00", `\r\n`, "\r\n").Replace(tc.line)
			c := dial()
			io.WriteString(c, line+"\r\nHost: x\r\nAuthorization: Bearer "+adminToken+"\r\nConnection: close\r\n\r\n")
			out, _ := closedWithin(c, 10*time.Second)
			assert.True(t, strings.HasPrefix(out, "HTTP/1.1 "+tc.status+" "), "%q: answer %.200q", tc.line, out)
			assert.NotContains(t, out, "root:", tc.line)
			assert.NotContains(t, out, "whsec_", tc.line)
		}
	})

	var list struct{ Data []struct{ ID string } }
	require.Equal(t, 200, srv.api(t, "GET", "/api/v1/webhooks/"+wh.ID+"/deliveries", adminToken, nil, &list))
	assert.Empty(t, list.Data, "no hostile request stored an event")
	require.Equal(t, 202, srv.api(t, "POST", "/api/v1/events", ingestToken,
		map[string]any{"eventType": "a.b", "data": map[string]int{}}, nil), "the server still takes events")
}
