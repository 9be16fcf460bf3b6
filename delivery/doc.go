// Package delivery is hookrelay's delivery engine. It runs in the server process and keeps
// no state of its own that matters: the deliveries table is the queue.
//
// A delivery moves through these states (see db.State):
//
//	pending ──claim──▶ delivering ──2xx──────────────▶ succeeded
//	   ▲                  │  └──failure, schedule left──▶ pending (next_attempt_at = now + delay)
//	   │                  └─────failure, schedule used up──▶ failed
//	   └──── manual retry (failed | succeeded) ◀───────────────┘
//	   └──── rescue: lease expired while delivering (the process died mid-attempt)
//
// How work is found. The database calls the engine back after every commit that makes
// deliveries due (ingest, manual retry, a webhook enabled, a rescue), naming the webhooks;
// the engine keeps, per webhook, when its earliest pending delivery is due, and sleeps until
// the earliest of those. There is no polling delay between an ingest's commit and the first
// attempt. A resync from the database every ResyncInterval is a safety net. Handlers never
// call the engine: this is why there is no Wake func to wire from the HTTP side.
//
// Isolation. Claims are made per webhook, at most WebhookConcurrency in flight each and
// Concurrency in all, so a receiver that hangs ties up only its own slots and its own backlog
// never stands in front of other webhooks' work in the queue.
//
// Durability. A claim is a lease of Lease() (twice the attempt timeout plus 5s). Attempts are
// recorded in batches, with the next state, in one transaction. If the process dies between
// claim and record, the lease expires and the rescuer makes the delivery pending again:
// delivery is at least once, and a receiver may see a delivery twice (de-duplicate on
// webhook-id). On shutdown the engine stops claiming and lets attempts in flight finish and be
// recorded before Run returns.
package delivery
