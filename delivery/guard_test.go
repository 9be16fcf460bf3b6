package delivery_test

import (
	"net/http"
	"net/netip"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hookrelay/hookrelay/db"
	"github.com/hookrelay/hookrelay/db/dbtest"
	"github.com/hookrelay/hookrelay/delivery"
	netguard "github.com/hookrelay/hookrelay/guard"
)

// guardedClient is the production client with g's Control hook, reporting every address the
// hook was asked about on the returned channel.
func guardedClient(g *netguard.Guard) (*http.Client, <-chan string) {
	dials := make(chan string, 100)
	return delivery.NewClient(delivery.ClientOptions{Control: func(network, address string, c syscall.RawConn) error {
		err := g.Control(network, address, c)
		dials <- address
		return err
	}}), dials
}

func waitDials(t *testing.T, dials <-chan string, n int) {
	t.Helper()
	timeout := time.After(guard)
	for range n {
		select {
		case <-dials:
		case <-timeout:
			t.Fatalf("fewer than %d dials", n)
		}
	}
}

// TestGuardRefusesLoopbackAtConnectionTime delivers to a real receiver on 127.0.0.1 through a
// guarded client: nothing reaches the receiver, and each refusal is an attempt of class
// blocked that follows the retry schedule to failed.
func TestGuardRefusesLoopbackAtConnectionTime(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	rc := newReceiver(t, status(http.StatusOK, ""))
	wh := dbtest.Webhook(t, store, rc.URL+"/hook")
	dbtest.Event(t, store, "a.b", 1)
	client, dials := guardedClient(&netguard.Guard{})
	o := options(t, time.Millisecond, time.Millisecond)
	o.Client = client

	r := runEngine(t, delivery.NewEngine(store, o))
	waitDials(t, dials, 3)
	r.stop(t)

	assert.Zero(t, rc.count(), "the receiver was reached")
	d := only(t, dbtest.Deliveries(t, store, wh.ID))
	assert.Equal(t, db.StateFailed, d.State, "three blocked attempts use up a schedule of two retries")
	assert.Equal(t, 3, d.Attempts)
	assert.Equal(t, delivery.ClassBlocked, d.LastError)
	as := dbtest.Attempts(t, store, d.ID)
	require.Len(t, as, 3)
	for _, a := range as {
		assert.Zero(t, a.StatusCode)
		assert.Equal(t, delivery.ClassBlocked, a.ErrorClass)
		assert.Contains(t, a.ErrorMessage, "loopback")
	}
}

// TestGuardChecksTheResolvedAddress uses a host name: the guard sees the address "localhost"
// resolved to, which is what defeats DNS rebinding.
func TestGuardChecksTheResolvedAddress(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	rc := newReceiver(t, status(http.StatusOK, ""))
	u := rc.URL[len("http://127.0.0.1"):] // ":port"
	wh := dbtest.Webhook(t, store, "http://localhost"+u+"/hook")
	dbtest.Event(t, store, "a.b", 1)
	client, dials := guardedClient(&netguard.Guard{})
	o := options(t, time.Hour)
	o.Client = client

	r := runEngine(t, delivery.NewEngine(store, o))
	waitDials(t, dials, 1)
	r.stop(t)

	assert.Zero(t, rc.count())
	d := only(t, dbtest.Deliveries(t, store, wh.ID))
	assert.Equal(t, db.StatePending, d.State, "a retry is scheduled")
	assert.WithinRange(t, d.NextAttemptAt, time.Now().Add(time.Hour-time.Minute), time.Now().Add(time.Hour))
	a := onlyAttempt(t, dbtest.Attempts(t, store, d.ID))
	assert.Equal(t, delivery.ClassBlocked, a.ErrorClass)
}

func TestGuardAllowsListedRanges(t *testing.T) {
	t.Parallel()
	store := dbtest.New(t)
	rc := newReceiver(t, status(http.StatusOK, ""))
	wh := dbtest.Webhook(t, store, rc.URL+"/hook")
	dbtest.Event(t, store, "a.b", 1)
	client, _ := guardedClient(&netguard.Guard{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	o := options(t, time.Hour)
	o.Client = client

	r := runEngine(t, delivery.NewEngine(store, o))
	rc.wait(t, 1)
	r.stop(t)
	assert.Equal(t, db.StateSucceeded, only(t, dbtest.Deliveries(t, store, wh.ID)).State)
}

// TestHTTPSOnlyRefusesPlainHTTP: the refusal comes before any dial, so the test runs in a
// bubble without a socket.
func TestHTTPSOnlyRefusesPlainHTTP(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := dbtest.New(t)
		wh := dbtest.Webhook(t, store, "http://receiver.test/hook")
		dbtest.Event(t, store, "a.b", 1)
		o := options(t, time.Minute)
		o.Client = delivery.NewClient(delivery.ClientOptions{HTTPSOnly: true})
		startEngine(t, delivery.NewEngine(store, o))
		synctest.Wait()

		d := only(t, dbtest.Deliveries(t, store, wh.ID))
		assert.Equal(t, db.StatePending, d.State)
		a := onlyAttempt(t, dbtest.Attempts(t, store, d.ID))
		assert.Equal(t, delivery.ClassBlocked, a.ErrorClass)
		assert.Contains(t, a.ErrorMessage, "only https://")

		time.Sleep(time.Minute)
		synctest.Wait()
		d = dbtest.Delivery(t, store, d.ID)
		assert.Equal(t, db.StateFailed, d.State, "the retry is refused the same way")
		assert.Len(t, dbtest.Attempts(t, store, d.ID), 2)
	})
}
