package delivery_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/delivery"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	// urlErr wraps err the way http.Client.Do reports transport failures.
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "https://receiver.test/hook", Err: err} }
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	for _, tc := range []struct {
		name   string
		status int
		err    error
		ok     bool
		class  string
	}{
		{name: "200", status: 200, ok: true},
		{name: "201", status: 201, ok: true},
		{name: "204", status: 204, ok: true},
		{name: "299", status: 299, ok: true},
		{name: "1xx", status: 199},
		{name: "300", status: 300},
		{name: "301", status: 301},
		{name: "302", status: 302},
		{name: "304", status: 304},
		{name: "308", status: 308},
		{name: "400", status: 400},
		{name: "404", status: 404},
		{name: "410", status: 410},
		{name: "429", status: 429},
		{name: "500", status: 500},
		{name: "502", status: 502},
		{name: "503", status: 503},
		{name: "deadline", err: context.DeadlineExceeded, class: delivery.ClassTimeout},
		{name: "deadline from the client", err: urlErr(context.DeadlineExceeded), class: delivery.ClassTimeout},
		{name: "wrapped deadline", err: fmt.Errorf("read body: %w", urlErr(context.DeadlineExceeded)), class: delivery.ClassTimeout},
		{name: "net timeout", err: urlErr(&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}), class: delivery.ClassTimeout},
		{name: "canceled", err: urlErr(context.Canceled), class: delivery.ClassCanceled},
		{name: "dns not found", err: urlErr(dial(&net.DNSError{Err: "no such host", Name: "receiver.test", IsNotFound: true})), class: delivery.ClassDNS},
		{name: "dns bare", err: &net.DNSError{Err: "server misbehaving", Name: "receiver.test"}, class: delivery.ClassDNS},
		{name: "dns timeout", err: urlErr(dial(&net.DNSError{Err: "i/o timeout", Name: "receiver.test", IsTimeout: true})), class: delivery.ClassTimeout},
		{name: "connection refused", err: urlErr(dial(os.NewSyscallError("connect", syscall.ECONNREFUSED))), class: delivery.ClassConnection},
		{name: "connection refused bare", err: syscall.ECONNREFUSED, class: delivery.ClassConnection},
		{name: "connection reset", err: urlErr(&net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), class: delivery.ClassConnection},
		{name: "host unreachable", err: urlErr(dial(os.NewSyscallError("connect", syscall.EHOSTUNREACH))), class: delivery.ClassConnection},
		{name: "network unreachable", err: urlErr(dial(os.NewSyscallError("connect", syscall.ENETUNREACH))), class: delivery.ClassConnection},
		{name: "broken pipe", err: urlErr(&net.OpError{Op: "write", Err: os.NewSyscallError("write", syscall.EPIPE)}), class: delivery.ClassConnection},
		{name: "other dial error", err: urlErr(dial(errors.New("no route"))), class: delivery.ClassConnection},
		{name: "EOF", err: urlErr(io.EOF), class: delivery.ClassConnection},
		{name: "unexpected EOF", err: io.ErrUnexpectedEOF, class: delivery.ClassConnection},
		{name: "unexpected EOF from the client", err: urlErr(io.ErrUnexpectedEOF), class: delivery.ClassConnection},
		{name: "tls unknown authority", err: urlErr(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), class: delivery.ClassTLS},
		{name: "tls bare unknown authority", err: x509.UnknownAuthorityError{}, class: delivery.ClassTLS},
		{name: "tls hostname", err: urlErr(x509.HostnameError{Host: "receiver.test", Certificate: &x509.Certificate{}}), class: delivery.ClassTLS},
		{name: "tls expired", err: urlErr(x509.CertificateInvalidError{Reason: x509.Expired, Cert: &x509.Certificate{}}), class: delivery.ClassTLS},
		{name: "tls alert", err: urlErr(&net.OpError{Op: "remote error", Err: tls.AlertError(40)}), class: delivery.ClassTLS},
		{name: "tls record header", err: urlErr(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), class: delivery.ClassTLS},
		{name: "https to a plain HTTP server", err: urlErr(http.ErrSchemeMismatch), class: delivery.ClassTLS},
		{name: "blocked", err: &delivery.BlockedError{Addr: "10.0.0.1:443", Reason: "private network"}, class: delivery.ClassBlocked},
		{name: "blocked inside dial", err: urlErr(dial(&delivery.BlockedError{Addr: "127.0.0.1:80", Reason: "loopback"})), class: delivery.ClassBlocked},
		{name: "malformed response", err: urlErr(errors.New(`net/http: HTTP/1.x transport connection broken: malformed HTTP response "HELLO"`)), class: delivery.ClassProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := delivery.Classify(tc.status, tc.err)
			assert.Equal(t, tc.ok, got.OK())
			assert.Equal(t, tc.class, got.ErrorClass)
			if tc.err == nil {
				assert.Equal(t, delivery.Outcome{StatusCode: tc.status}, got, "a status is not an error")
			} else {
				assert.Zero(t, got.StatusCode)
				assert.Equal(t, tc.err.Error(), got.Message)
			}
		})
	}
}

// TestClassifyRealErrors checks the classes of errors that the delivery client really
// returns, against local listeners.
func TestClassifyRealErrors(t *testing.T) {
	t.Parallel()
	closed := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close())
		return "http://" + addr
	}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(tlsSrv.Close)
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(hang) })
	raw := func(reply string) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		var wg sync.WaitGroup
		t.Cleanup(func() { ln.Close(); wg.Wait() })
		wg.Go(func() { // ends when Accept fails after Close
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 4096)
				c.Read(buf)
				io.WriteString(c, reply)
				c.Close()
			}
		})
		return "http://" + ln.Addr().String()
	}
	plainToTLS := "https://" + raw("HTTP/1.1 200 OK\r\n\r\n")[len("http://"):]

	for _, tc := range []struct {
		name, url string
		timeout   time.Duration
		class     string
	}{
		{"connection refused", closed(), time.Minute, delivery.ClassConnection},
		{"untrusted certificate", tlsSrv.URL, time.Minute, delivery.ClassTLS},
		{"plain HTTP answering TLS", plainToTLS, time.Minute, delivery.ClassTLS},
		{"timeout", slow.URL, 50 * time.Millisecond, delivery.ClassTimeout},
		{"closed without answer", raw(""), time.Minute, delivery.ClassConnection},
		{"not HTTP", raw("HELLO\r\n\r\n"), time.Minute, delivery.ClassProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), tc.timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, tc.url, nil)
			require.NoError(t, err)
			resp, err := delivery.NewClient(delivery.ClientOptions{}).Do(req)
			if resp != nil {
				resp.Body.Close()
			}
			require.Error(t, err)
			assert.Equal(t, tc.class, delivery.Classify(0, err).ErrorClass, "%v", err)
		})
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	hit := make(chan struct{}, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/target", http.StatusFound) })
	mux.HandleFunc("/target", func(http.ResponseWriter, *http.Request) { hit <- struct{}{} })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	resp, err := delivery.NewClient(delivery.ClientOptions{}).Post(srv.URL+"/hook", "application/json", nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusFound, resp.StatusCode)
	assert.Equal(t, "/target", resp.Header.Get("Location"))
	assert.False(t, delivery.Classify(resp.StatusCode, nil).OK())
	select {
	case <-hit:
		t.Error("the redirect was followed")
	default:
	}
}

// db.ErrorClasses is what filters accept: it must name every class the engine records.
func TestErrorClassesAreListedForFilters(t *testing.T) {
	t.Parallel()
	for _, c := range []string{delivery.ClassTimeout, delivery.ClassDNS, delivery.ClassConnection, delivery.ClassTLS,
		delivery.ClassBlocked, delivery.ClassProtocol, delivery.ClassInternal, delivery.ClassCanceled} {
		assert.Contains(t, db.ErrorClasses, c)
	}
}
