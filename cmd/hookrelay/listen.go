package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hookrelay/hookrelay/webhook"
)

const listenUsage = `Usage: hookrelay listen [flags]

A development receiver: it prints every delivery it gets, checks its signature with the
webhook's secret, and answers with the status you choose, so you can watch deliveries arrive.
`

// runListen is `hookrelay listen`: a development receiver that prints every delivery it gets,
// checks its signature, and answers with a chosen status, so one can watch deliveries arrive.
func runListen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hookrelay listen", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	var secrets secretList
	fs.Var(&secrets, "secret", "the webhook's whsec_ secret, to verify signatures; repeat it to accept several, e.g. the old and the new one during a rotation (HOOKRELAY_LISTEN_SECRET, several separated by spaces or commas)")
	status := fs.Int("status", http.StatusOK, "HTTP status to answer every delivery with")
	maxBody := fs.Int64("max-body", 1<<20, "largest request body read")
	if err := parseFlags(fs, args, listenUsage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (see 'hookrelay listen --help')", fs.Arg(0))}
	}
	if *status < 100 || *status > 599 {
		return fmt.Errorf("invalid --status %d: want 100 to 599", *status)
	}
	if len(secrets) == 0 {
		secrets = strings.FieldsFunc(getenv("HOOKRELAY_LISTEN_SECRET"), func(r rune) bool { return r == ',' || r == ' ' })
	}
	verifiers := make([]*webhook.Verifier, len(secrets))
	for i, s := range secrets {
		v, err := webhook.NewVerifier(s)
		if err != nil {
			return fmt.Errorf("invalid --secret (number %d): %w", i+1, err)
		}
		verifiers[i] = v
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Fprintf(stdout, "listening on http://%s (answering %d)\n", ln.Addr(), *status)
	if len(secrets) == 0 {
		fmt.Fprintln(stdout, "no --secret given: signatures are shown but not verified")
	}
	var mu sync.Mutex // one delivery printed at a time
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, *maxBody))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		verdict := verdictOf(verifiers, r.Header, body)
		var ev struct {
			EventType string `json:"eventType"`
		}
		json.Unmarshal(body, &ev)
		mu.Lock()
		fmt.Fprintf(stdout, "%s %s %s %s\n  id:        %s\n  signature: %s\n  body:      %s\n  answered:  %d\n",
			time.Now().Format(time.TimeOnly), r.Method, r.URL.Path, orDash(ev.EventType), r.Header.Get(webhook.HeaderID),
			verdict, strings.TrimSpace(string(body)), *status)
		mu.Unlock()
		w.WriteHeader(*status)
	})
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { errc <- hs.Serve(ln) })
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

// verdictOf says whether the delivery verifies and, when several secrets were given, with
// which of them: during a rotation that shows whether the new secret is in use yet.
func verdictOf(verifiers []*webhook.Verifier, h http.Header, body []byte) string {
	if len(verifiers) == 0 {
		return "not verified (no --secret)"
	}
	var first error
	for i, v := range verifiers {
		err := v.Verify(h, body)
		if err == nil {
			if len(verifiers) == 1 {
				return "valid signature"
			}
			return fmt.Sprintf("valid signature (secret %d of %d)", i+1, len(verifiers))
		}
		if first == nil {
			first = err
		}
	}
	return "INVALID: " + first.Error()
}

// secretList is a repeatable --secret flag.
type secretList []string

func (l *secretList) String() string { return fmt.Sprintf("%d secret(s)", len(*l)) }

func (l *secretList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
