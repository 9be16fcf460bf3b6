package webhook_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/webhook"
)

// The Standard Webhooks test vector: any correct implementation signs this message so.
func ExampleSign() {
	key, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	fmt.Println(webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`)))
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}

// Verifying a delivery by hand: give the headers and the raw body, exactly as received.
func ExampleVerifier_Verify() {
	v, err := webhook.NewVerifier("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		panic(err)
	}
	// A fixed clock so the example's output does not depend on when it runs; leave Now nil
	// in a real receiver.
	v.Now = func() time.Time { return time.Unix(1614265330, 0).Add(time.Minute) }

	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

	fmt.Println(v.Verify(h, []byte(`{"test": 2432232314}`)))
	// A re-encoded body is a different body.
	err = v.Verify(h, []byte(`{"test":2432232314}`))
	fmt.Println(errors.Is(err, webhook.ErrNoMatchingSig), err)
	// The same delivery replayed ten minutes later.
	v.Now = func() time.Time { return time.Unix(1614265330, 0).Add(10 * time.Minute) }
	err = v.Verify(h, []byte(`{"test": 2432232314}`))
	fmt.Println(errors.Is(err, webhook.ErrTooOld), err)
	// Output:
	// <nil>
	// true webhook: no matching signature
	// true webhook: timestamp too old: signed 10m0s ago, tolerance 5m0s
}

// During a secret rotation hookrelay signs every delivery with the new and the old secret
// ("v1,<new> v1,<old>"). A receiver can switch to the new secret at any time in the grace
// period, or accept both while it deploys.
func ExampleNewVerifier_rotation() {
	oldSecret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	newSecret := "whsec_" + strings.Repeat("A", 43) + "="
	oldKey, _ := webhook.ParseSecret(oldSecret)
	newKey, _ := webhook.ParseSecret(newSecret)
	body := []byte(`{"id":"evt_1","eventType":"workflow.completed","data":{}}`)
	now := time.Now()

	h := http.Header{}
	h.Set("webhook-id", "evt_1")
	h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	h.Set("webhook-signature", webhook.SignatureHeader([][]byte{newKey, oldKey}, "evt_1", now.Unix(), body))

	for _, secrets := range [][]string{{oldSecret}, {newSecret}, {newSecret, oldSecret}} {
		v, err := webhook.NewVerifier(secrets...)
		if err != nil {
			panic(err)
		}
		fmt.Println(len(secrets), "secret(s):", v.Verify(h, body))
	}
	// Output:
	// 1 secret(s): <nil>
	// 1 secret(s): <nil>
	// 2 secret(s): <nil>
}

// A receiver: the middleware verifies each request and hands the decoded event on; requests
// that fail never reach the handler and are answered 400 or 401.
func ExampleVerifier_HandlerFunc() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := webhook.NewVerifier(secret)
	if err != nil {
		panic(err)
	}
	seen := map[string]bool{} // use your database: deliveries are at-least-once
	h := v.HandlerFunc(func(w http.ResponseWriter, r *http.Request, ev webhook.Event) {
		if seen[ev.ID] {
			return // a repeat: answer 2xx again and do nothing
		}
		seen[ev.ID] = true
		fmt.Printf("%s %s workflow=%s data=%s\n", ev.ID, ev.EventType, ev.WorkflowID, ev.Data)
		w.WriteHeader(http.StatusNoContent)
	})
	// In a real program: http.Handle("POST /hooks/hookrelay", h)

	// What hookrelay sends, signed now with the webhook's secret.
	body := `{"id":"evt_01J","eventType":"workflow.completed","timestamp":"2026-01-02T03:04:05Z","workflowId":"wf_42","data":{"status":"done"}}`
	send := func(body, sig string) {
		ts := time.Now().Unix()
		if sig == "" {
			key, _ := webhook.ParseSecret(secret)
			sig = webhook.Sign(key, "evt_01J", ts, []byte(body))
		}
		req := httptest.NewRequest(http.MethodPost, "/hooks/hookrelay", strings.NewReader(body))
		req.Header.Set("webhook-id", "evt_01J")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		msg, _ := io.ReadAll(rec.Body)
		fmt.Println(strings.TrimSpace(fmt.Sprint(rec.Code, " ", string(msg))))
	}
	send(body, "")
	send(body, "") // a retry of the same event
	send(body, "v1,bm90IHRoZSByaWdodCBzaWduYXR1cmUgYXQgYWxs")
	// Output:
	// evt_01J workflow.completed workflow=wf_42 data={"status":"done"}
	// 204
	// 200
	// 401 webhook: no matching signature
}
