// Package bench measures hookrelay end to end: it starts the real server binary with a fresh
// database, starts receivers on 127.0.0.1 that count and de-duplicate what they are sent,
// drives the ingest API, and reports throughput, latency, losses, duplicates, CPU time and
// memory per scenario against the targets of issue 5. cmd/hookrelay-bench is its command
// line; e2e/bench_smoke_test.go runs its smoke mode.
//
// Everything stays on 127.0.0.1, and every run is bounded in time and in count.
//
// Latency is measured from a send timestamp that the load generator puts in each event's
// data ("sent", nanoseconds since the Unix epoch). Closed-loop runs stamp the moment a request
// starts; open-loop runs stamp the moment it was scheduled, so that a server falling behind
// shows as latency rather than as a slower sender (no coordinated omission).
package bench
