package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/webhook"
)

// FuzzSignVerify builds signature headers for arbitrary keys, ids, timestamps and bodies:
// what Sign produces always verifies with the secret, under any of several keys, and never
// verifies after the body, the id or the timestamp changes.
func FuzzSignVerify(f *testing.F) {
	key, _ := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Add(key, []byte("other-key-of-24-bytes!!!"), "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`))
	f.Add(bytes.Repeat([]byte{0}, 24), bytes.Repeat([]byte{0xff}, 64), "evt_1", int64(0), []byte{})
	f.Add(bytes.Repeat([]byte{1}, 64), bytes.Repeat([]byte{2}, 30), "id with spaces, v1,and commas", int64(-1), []byte("\x00\xff"))
	f.Fuzz(func(t *testing.T, k1, k2 []byte, id string, ts int64, body []byte) {
		if len(k1) < webhook.MinKeyBytes || len(k1) > webhook.MaxKeyBytes || len(k2) < webhook.MinKeyBytes || len(k2) > webhook.MaxKeyBytes {
			return
		}
		s1 := webhook.SecretPrefix + base64.StdEncoding.EncodeToString(k1)
		s2 := webhook.SecretPrefix + base64.StdEncoding.EncodeToString(k2)
		for _, s := range []struct {
			secret string
			key    []byte
		}{{s1, k1}, {s2, k2}} {
			got, err := webhook.ParseSecret(s.secret)
			if err != nil || !bytes.Equal(got, s.key) {
				t.Fatalf("ParseSecret(%q) = %x, %v", s.secret, got, err)
			}
		}
		header := webhook.SignatureHeader([][]byte{k1, k2}, id, ts, body)
		if n := len(strings.Fields(header)); n != 2 {
			t.Fatalf("header %q has %d signatures, want 2", header, n)
		}
		now := time.Unix(ts, 0)
		tsText := strconv.FormatInt(ts, 10)
		verify := func(secret, id, ts string, body []byte) error {
			return webhook.Verify([]string{secret}, id, ts, header, body, now, webhook.DefaultTolerance)
		}
		if id == "" {
			if err := verify(s1, id, tsText, body); !errors.Is(err, webhook.ErrMissingHeaders) {
				t.Fatalf("empty id: %v", err)
			}
			return
		}
		for _, s := range []string{s1, s2} {
			if err := verify(s, id, tsText, body); err != nil {
				t.Fatalf("own signature does not verify with %s: %v", s, err)
			}
		}
		if err := verify(s1, id, tsText, append(bytes.Clone(body), 'x')); !errors.Is(err, webhook.ErrNoMatchingSig) {
			t.Fatalf("changed body: %v", err)
		}
		if err := verify(s1, id+"x", tsText, body); !errors.Is(err, webhook.ErrNoMatchingSig) {
			t.Fatalf("changed id: %v", err)
		}
		if ts < 1<<62 {
			later := strconv.FormatInt(ts+1, 10)
			if err := verify(s1, id, later, body); !errors.Is(err, webhook.ErrNoMatchingSig) {
				t.Fatalf("changed timestamp: %v", err)
			}
		}
	})
}

// FuzzVerifyHeaders feeds Verify arbitrary header values: nothing may panic, and a success
// means one of the signatures really is the MAC of id.timestamp.body under the key.
func FuzzVerifyHeaders(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, _ := webhook.ParseSecret(secret)
	good := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", good, []byte(`{"test": 2432232314}`), secret)
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", "v1, v1,, v2,"+good[3:]+" "+good, []byte(`{"test": 2432232314}`), secret)
	f.Add("id", "-9223372036854775808", "v1,AAAA", []byte("x"), "whsec_")
	f.Add("id", "1614265330.5", "v1a,"+good[3:], []byte("x"), "whsec_!!")
	f.Add("id", "99999999999999999999", good+"=", []byte(""), secret+"=")
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte, secret string) {
		now := time.Unix(1614265330, 0)
		err := webhook.Verify([]string{secret}, id, ts, sigs, body, now, webhook.DefaultTolerance)
		if err != nil {
			return
		}
		k, perr := webhook.ParseSecret(secret)
		if perr != nil {
			t.Fatalf("verified with an invalid secret %q", secret)
		}
		n, _ := strconv.ParseInt(ts, 10, 64)
		h := hmac.New(sha256.New, k)
		h.Write([]byte(id + "." + strconv.FormatInt(n, 10) + "."))
		h.Write(body)
		want := h.Sum(nil)
		for sig := range strings.FieldsSeq(sigs) {
			if enc, ok := strings.CutPrefix(sig, "v1,"); ok {
				if got, err := base64.StdEncoding.DecodeString(enc); err == nil && hmac.Equal(got, want) {
					return
				}
			}
		}
		t.Fatalf("Verify accepted %q for id %q, ts %q without a matching signature", sigs, id, ts)
	})
}

// FuzzParseSecret: any string either parses to a key of an allowed size or is refused.
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_====", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := webhook.ParseSecret(s)
		if err != nil {
			return
		}
		if len(k) < webhook.MinKeyBytes || len(k) > webhook.MaxKeyBytes {
			t.Fatalf("ParseSecret(%q) gave a %d-byte key", s, len(k))
		}
		if webhook.SecretPrefix+base64.StdEncoding.EncodeToString(k) != s {
			t.Logf("non-canonical secret %q accepted", s) // base64 with non-zero padding bits
		}
	})
}
