package alert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one email: a plain-text part and an HTML alternative.
type Message struct {
	To      []string
	Subject string
	Text    string
	HTML    string
	AlertID string // sent as X-Hookrelay-Alert when set, so mail filters can key on it
}

// Mailer sends one email. SMTP is the real one; tests of the timing may pass a recording one.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// TLSMode is how the SMTP connection is protected.
type TLSMode string

// TLS modes.
const (
	// TLSMandatory requires STARTTLS with a valid certificate; a server without it is an error.
	TLSMandatory TLSMode = "mandatory"
	// TLSOpportunistic uses STARTTLS when the server offers it, plain SMTP otherwise. A
	// password is then sent only over TLS or with a challenge-response mechanism.
	TLSOpportunistic TLSMode = "opportunistic"
	// TLSNone never uses TLS and allows PLAIN/LOGIN passwords in clear: for a local relay or
	// tests only.
	TLSNone TLSMode = "none"
)

// ParseTLSMode reads a TLS mode setting.
func ParseTLSMode(s string) (TLSMode, error) {
	switch m := TLSMode(s); m {
	case TLSMandatory, TLSOpportunistic, TLSNone:
		return m, nil
	}
	return "", fmt.Errorf("unknown TLS mode %q (want mandatory, opportunistic or none)", s)
}

// ParseAddr checks an SMTP server address: host:port with a port from 1 to 65535.
func ParseAddr(addr string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("%q is not host:port, e.g. smtp.example.com:587", addr)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: the port must be a number from 1 to 65535", addr)
	}
	return host, port, nil
}

// SMTP sends email through an SMTP server with github.com/wneessen/go-mail, one connection
// per message. Alerts are few, so nothing is pooled.
type SMTP struct {
	Addr     string // host:port
	Username string // empty: no authentication
	Password string
	From     string // an RFC 5322 address, "Name <a@b>" or "a@b"
	TLS      TLSMode
	Timeout  time.Duration // bounds one message: connect, talk, send (default 30s)
	HELO     string        // default: the host name
}

// Validate checks the settings without connecting.
func (s *SMTP) Validate() error {
	if _, _, err := ParseAddr(s.Addr); err != nil {
		return err
	}
	if _, err := ParseTLSMode(string(s.TLS)); err != nil {
		return err
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("from address %q: %w", s.From, err)
	}
	if s.Password != "" && s.Username == "" {
		return errors.New("a password is set but no username")
	}
	return nil
}

// Send delivers m, bounded by Timeout.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if err := s.Validate(); err != nil {
		return err
	}
	host, port, _ := ParseAddr(s.Addr)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.From); err != nil {
		return fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(m.To...); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetUserAgent("hookrelay")
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	if m.AlertID != "" {
		msg.SetGenHeader("X-Hookrelay-Alert", m.AlertID)
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}

	policy := gomail.TLSOpportunistic
	switch s.TLS {
	case TLSMandatory:
		policy = gomail.TLSMandatory
	case TLSNone:
		policy = gomail.NoTLS
	}
	opts := []gomail.Option{gomail.WithPort(port), gomail.WithTimeout(timeout), gomail.WithTLSPolicy(policy)}
	if s.HELO != "" {
		opts = append(opts, gomail.WithHELO(s.HELO))
	}
	if s.Username != "" {
		opts = append(opts, gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
		if s.TLS == TLSNone {
			// Chosen explicitly: the password may travel in clear.
			opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
				gomail.SMTPAuthCramMD5, gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
		} else {
			// The strongest mechanism the server offers; PLAIN and LOGIN only over TLS.
			opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
		}
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", s.Addr, err)
	}
	return nil
}
