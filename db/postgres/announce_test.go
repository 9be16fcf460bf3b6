package postgres

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// fakeSend stands in for pg_notify: each call hands its ids to the test and returns what the
// test answers.
type fakeSend struct {
	sent   chan []string
	answer chan error
}

func newFakeSend() *fakeSend { return &fakeSend{sent: make(chan []string), answer: make(chan error)} }

func (f *fakeSend) send(_ context.Context, ids []string) error {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	f.sent <- ids
	return <-f.answer
}

// inFlight starts an announcer and has it send a first notice, of whk_a, which waits for
// the test's answer. stop ends the loop; the test's end calls it too.
func inFlight(t *testing.T) (a *announcer, f *fakeSend, stop func()) {
	a, f = newAnnouncer(), newFakeSend()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		a.run(ctx, f.send)
		close(done)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	t.Cleanup(stop)
	a.add([]string{"whk_a"})
	assert.Equal(t, []string{"whk_a"}, <-f.sent)
	return a, f, stop
}

// What ingests queue while a notice is on its way goes out in the next one, each webhook
// once: under load there is one NOTIFY at a time per instance, not one per ingest.
func TestAnnouncerSendsWhatQueuedMeanwhileInOneNotice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, f, _ := inFlight(t)
		a.add([]string{"whk_b"})
		a.add([]string{"whk_c", "whk_b"})
		a.add([]string{"whk_a"})
		f.answer <- nil
		assert.Equal(t, []string{"whk_a", "whk_b", "whk_c"}, <-f.sent)
		f.answer <- nil

		synctest.Wait()
		select {
		case ids := <-f.sent:
			t.Fatalf("sent %v with nothing queued", ids)
		default:
		}
	})
}

// A notice that fails is sent again after announceBackoff, with what was queued meanwhile.
func TestAnnouncerRetriesAFailedNotice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, f, _ := inFlight(t)
		failed := time.Now()
		f.answer <- errors.New("connection refused")
		a.add([]string{"whk_b"})
		assert.Equal(t, []string{"whk_a", "whk_b"}, <-f.sent)
		assert.Equal(t, announceBackoff, time.Since(failed), "tried again after the backoff, not before")
		f.answer <- nil
	})
}

// Stopping sends what is still queued: ingests that committed just before Close are
// announced.
func TestAnnouncerSendsTheRestWhenStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, f, stop := inFlight(t)
		a.add([]string{"whk_b"})
		stopped := make(chan struct{})
		go func() {
			stop()
			close(stopped)
		}()
		synctest.Wait() // the loop is stopping, waiting for the notice in flight
		f.answer <- nil
		assert.Equal(t, []string{"whk_b"}, <-f.sent)
		f.answer <- nil
		<-stopped
		assert.Nil(t, a.take(), "nothing left")
	})
}
