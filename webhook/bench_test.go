package webhook_test

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/webhook"
)

// benchBody is a delivered payload of about 1 KB, the size scenario f of make bench uses.
var benchBody = append(append([]byte(`{"id":"evt_01JDQ7Y5S6M0RZ3T9C2V8K4B1N","eventType":"workflow.completed",`+
	`"timestamp":"2026-11-28T14:02:11.317Z","workflowId":"wf_42","data":{"pad":"`), bytes.Repeat([]byte("x"), 880)...), `"}}`...)

const (
	benchID     = "evt_01JDQ7Y5S6M0RZ3T9C2V8K4B1N"
	benchSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func benchKey(b *testing.B, secret string) []byte {
	b.Helper()
	k, err := webhook.ParseSecret(secret)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

// BenchmarkSign is the signer on every delivery attempt: one HMAC-SHA256 over id.ts.body.
func BenchmarkSign(b *testing.B) {
	key := benchKey(b, benchSecret)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if s := webhook.Sign(key, benchID, 1614265330, benchBody); len(s) == 0 {
			b.Fatal("empty signature")
		}
	}
}

// BenchmarkSignatureHeader covers what the engine calls: one key normally, two during a
// secret rotation.
func BenchmarkSignatureHeader(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(strconv.Itoa(n)+"keys", func(b *testing.B) {
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = benchKey(b, webhook.NewSecret())
			}
			b.SetBytes(int64(len(benchBody)))
			b.ReportAllocs()
			for b.Loop() {
				webhook.SignatureHeader(keys, benchID, 1614265330, benchBody)
			}
		})
	}
}

// BenchmarkParseSecret is paid once per attempt, since claims carry the secret text.
func BenchmarkParseSecret(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhook.ParseSecret(benchSecret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is the receiver's side, for comparison.
func BenchmarkVerify(b *testing.B) {
	key := benchKey(b, benchSecret)
	now := time.Unix(1614265330, 0)
	sig := webhook.Sign(key, benchID, now.Unix(), benchBody)
	ts := strconv.FormatInt(now.Unix(), 10)
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if err := webhook.Verify([]string{benchSecret}, benchID, ts, sig, benchBody, now, webhook.DefaultTolerance); err != nil {
			b.Fatal(err)
		}
	}
}
