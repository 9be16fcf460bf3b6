package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/hookrelay/hookrelay/guard"
)

// Error classes recorded when an attempt got no status code.
const (
	ClassTimeout    = "timeout"    // no complete answer within the delivery timeout
	ClassDNS        = "dns"        // the host name did not resolve
	ClassConnection = "connection" // refused, reset, unreachable
	ClassTLS        = "tls"        // handshake or certificate failure
	ClassBlocked    = "blocked"    // the destination guard refused the address
	ClassProtocol   = "protocol"   // the receiver answered something that is not HTTP
	ClassInternal   = "internal"   // a bug in hookrelay; the attempt is still counted
	ClassCanceled   = "canceled"   // hookrelay stopped the attempt
)

// Outcome is what an attempt came to.
type Outcome struct {
	StatusCode int    // 0 when no response came back
	ErrorClass string // set when StatusCode is 0
	Message    string
	// RetryAfter is the delay a 429 or 503 answer asked for with Retry-After; 0 if none.
	RetryAfter time.Duration
}

// OK reports whether the receiver accepted the delivery (2xx).
func (o Outcome) OK() bool { return o.StatusCode >= 200 && o.StatusCode <= 299 }

// Classify turns a response status (0 if none) and the transport error into an Outcome.
// Any status other than 2xx fails, including 3xx: redirects are never followed.
func Classify(status int, err error) Outcome {
	if err == nil {
		return Outcome{StatusCode: status}
	}
	return Outcome{ErrorClass: errorClass(err), Message: err.Error()}
}

func errorClass(err error) string {
	var (
		dnsErr     *net.DNSError
		recErr     tls.RecordHeaderError
		alertErr   tls.AlertError
		verifyErr  *tls.CertificateVerificationError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		invalidErr x509.CertificateInvalidError
		netErr     net.Error
		blocked    *BlockedError
	)
	switch {
	case errors.As(err, &blocked):
		return ClassBlocked
	case errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout
	case errors.Is(err, context.Canceled):
		return ClassCanceled
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return ClassTimeout
		}
		return ClassDNS
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &verifyErr),
		errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &invalidErr),
		errors.Is(err, http.ErrSchemeMismatch): // net/http's rewrite of a RecordHeaderError that reads "HTTP/"
		return ClassTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ClassConnection
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return ClassConnection
	}
	if errors.Is(err, errPanic) {
		return ClassInternal
	}
	// net/http reports malformed responses and early EOFs as plain errors.
	return ClassProtocol
}

// errPanic marks an attempt that panicked inside hookrelay.
var errPanic = errors.New("internal error")

// BlockedError is returned by the destination guard (package guard) when it refuses an
// address, and by the delivery client when HTTPSOnly refuses an http:// URL.
type BlockedError = guard.BlockedError
