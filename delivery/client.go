package delivery

import (
	"net"
	"net/http"
	"syscall"
	"time"
)

// ClientOptions shape the HTTP client that delivers webhooks.
type ClientOptions struct {
	// MaxConnsPerHost should match the per-webhook in-flight cap so that every in-flight
	// attempt has a reusable connection.
	MaxConnsPerHost int
	// MaxIdleConns caps idle connections over all hosts.
	MaxIdleConns int
	// Control, when set, vets every address after DNS resolution and before connecting
	// (the destination guard). It sees the final IP, so DNS rebinding cannot slip past it.
	Control func(network, address string, c syscall.RawConn) error
	// HTTPSOnly refuses http:// URLs with a *BlockedError before anything is sent.
	HTTPSOnly bool
}

// NewClient returns the delivery HTTP client: connections are reused per host, redirects are
// never followed (a 3xx is a failed attempt), no proxy from the environment is used, and
// responses are not decompressed, so the stored body is what the receiver sent.
func NewClient(o ClientOptions) *http.Client {
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = 32
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 512
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if o.Control != nil {
		dialer.Control = o.Control
	}
	var rt http.RoundTripper = &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          o.MaxIdleConns,
		MaxIdleConnsPerHost:   o.MaxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	if o.HTTPSOnly {
		rt = httpsOnly{rt}
	}
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// httpsOnly refuses every request that is not https.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, &BlockedError{Addr: r.URL.Scheme + "://" + r.URL.Host, Reason: "only https:// destinations are allowed"}
	}
	return h.next.RoundTrip(r)
}
