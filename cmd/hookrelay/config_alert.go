package main

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/alert"
)

// AlertConfig holds the settings of failure alerts and the SMTP server they go through.
type AlertConfig struct {
	Emails       []string // empty: the admin users' addresses (see main.go)
	Window       time.Duration
	SMTPAddr     string // empty: email is off
	SMTPUsername string
	SMTPPassword string // from HOOKRELAY_SMTP_PASSWORD only, never a flag; never logged
	SMTPFrom     string
	SMTPTLS      alert.TLSMode
	SMTPTimeout  time.Duration
}

// smtpPasswordEnv is the one alert setting that is not a flag: a flag would show in ps.
const smtpPasswordEnv = "HOOKRELAY_SMTP_PASSWORD"

func alertSettings() []setting {
	return []setting{
		{"alert-emails", "", "comma-separated addresses that get failure alerts (default: every admin user's email)", func(c *Config, v string) error {
			emails, err := alert.ParseEmails(v)
			c.Alert.Emails = emails
			return err
		}},
		{"alert-window", "1h", "after an alert, further failures of the same webhook within this window are sent as one digest when it closes", func(c *Config, v string) error {
			return positiveDuration(&c.Alert.Window, v)
		}},
		{"smtp-addr", "", "SMTP server for alert emails, host:port (empty: email is off; alerts are still recorded)", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if _, _, err := alert.ParseAddr(v); err != nil {
				return err
			}
			c.Alert.SMTPAddr = v
			return nil
		}},
		{"smtp-username", "", "SMTP user name (empty: no authentication); the password comes from " + smtpPasswordEnv, func(c *Config, v string) error {
			c.Alert.SMTPUsername = v
			return nil
		}},
		{"smtp-from", "", "sender address of alert emails, e.g. hookrelay@example.com; required with --smtp-addr", func(c *Config, v string) error {
			if v == "" {
				return nil
			}
			if _, err := mail.ParseAddress(v); err != nil {
				return fmt.Errorf("%q is not an email address", v)
			}
			c.Alert.SMTPFrom = v
			return nil
		}},
		{"smtp-tls", "opportunistic", "mandatory (STARTTLS required), opportunistic (STARTTLS when offered) or none", func(c *Config, v string) error {
			m, err := alert.ParseTLSMode(v)
			c.Alert.SMTPTLS = m
			return err
		}},
		{"smtp-timeout", "30s", "time limit of sending one email: connect, authenticate, send", func(c *Config, v string) error {
			return positiveDuration(&c.Alert.SMTPTimeout, v)
		}},
	}
}

// finish reads the password and checks the settings that depend on each other.
func (a *AlertConfig) finish(getenv func(string) string) []error {
	a.SMTPPassword = getenv(smtpPasswordEnv)
	var errs []error
	if a.SMTPAddr != "" && a.SMTPFrom == "" {
		errs = append(errs, errors.New("invalid HOOKRELAY_SMTP_FROM (--smtp-from): required when HOOKRELAY_SMTP_ADDR is set"))
	}
	if a.SMTPPassword != "" && a.SMTPUsername == "" {
		errs = append(errs, errors.New("invalid HOOKRELAY_SMTP_USERNAME (--smtp-username): required when "+smtpPasswordEnv+" is set"))
	}
	return errs
}

// mailer returns the SMTP mailer, or nil when no server is set.
func (a *AlertConfig) mailer() alert.Mailer {
	if a.SMTPAddr == "" {
		return nil
	}
	return &alert.SMTP{Addr: a.SMTPAddr, Username: a.SMTPUsername, Password: a.SMTPPassword, From: a.SMTPFrom,
		TLS: a.SMTPTLS, Timeout: a.SMTPTimeout}
}

// parseBaseURL accepts an absolute http(s) URL without query or fragment, and drops a
// trailing slash. Empty means the default, http:// + the bound address, filled in by run.
func parseBaseURL(dst *string, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not an http(s) URL such as https://hookrelay.example.com", v)
	}
	if u.Path != "" && u.Path != "/" {
		// The admin UI is served from the root, so links and origins cannot carry a path.
		return fmt.Errorf("%q has a path; want the server's root URL such as https://hookrelay.example.com", v)
	}
	*dst = strings.TrimRight(v, "/")
	return nil
}
