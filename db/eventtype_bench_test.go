package db_test

import (
	"fmt"
	"testing"

	"github.com/hookrelay/hookrelay/db"
)

// BenchmarkMatchAny is the fan-out filter, run at ingest for every event against every
// enabled webhook's patterns.
func BenchmarkMatchAny(b *testing.B) {
	many := make([]string, 64) // the most patterns a webhook may have, none matching
	for i := range many {
		many[i] = fmt.Sprintf("service%d.resource.*", i)
	}
	for _, tc := range []struct {
		name     string
		patterns []string
		typ      string
		want     bool
	}{
		{"star", []string{"*"}, "workflow.step.completed", true},
		{"exact", []string{"workflow.completed"}, "workflow.completed", true},
		{"prefix", []string{"workflow.*"}, "workflow.step.completed", true},
		{"miss3", []string{"order.*", "invoice.paid", "user.created"}, "workflow.step.completed", false},
		{"miss64", many, "workflow.step.completed", false},
		{"last-of-64", append(many[:63:63], "workflow.*"), "workflow.step.completed", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if db.MatchAny(tc.patterns, tc.typ) != tc.want {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}
