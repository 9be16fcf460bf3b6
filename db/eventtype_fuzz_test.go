package db_test

import (
	"strings"
	"testing"

	"github.com/hookrelay/hookrelay/db"
)

// matchReference is MatchPattern written the slow, obvious way, segment by segment.
func matchReference(pattern, eventType string) bool {
	if pattern == "*" {
		return true
	}
	ps, ts := strings.Split(pattern, "."), strings.Split(eventType, ".")
	if ps[len(ps)-1] == "*" {
		prefix := ps[:len(ps)-1]
		if len(ts) <= len(prefix) {
			return false
		}
		for i, p := range prefix {
			if ts[i] != p {
				return false
			}
		}
		return true
	}
	return pattern == eventType
}

// FuzzMatchPattern checks the event-type matcher against the reference for every valid
// pattern and type, and that no input at all makes the validators or the matcher panic.
func FuzzMatchPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"*", "a"}, {"workflow.*", "workflow.completed"}, {"workflow.*", "workflow"}, {"workflow.*", "workflowX.y"},
		{"workflow.*", "workflow.step.failed"}, {"a.b", "a.b"}, {"a.b", "a.bc"}, {"a.*.b", "a.x.b"}, {"a*", "ab"},
		{".*", "x"}, {"*.*", "a.b"}, {"a..*", "a..b"}, {"", ""}, {"a.b.*", "a.b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, eventType string) {
		validPattern := db.ValidatePattern(pattern) == nil
		validType := db.ValidateEventType(eventType) == nil
		got := db.MatchPattern(pattern, eventType)
		if validType && db.ValidatePattern(eventType) != nil {
			t.Fatalf("event type %q is valid but not as an exact pattern", eventType)
		}
		if validType && !db.MatchPattern(eventType, eventType) {
			t.Fatalf("%q does not match itself", eventType)
		}
		if validPattern && validType {
			if want := matchReference(pattern, eventType); got != want {
				t.Fatalf("MatchPattern(%q, %q) = %v, want %v", pattern, eventType, got, want)
			}
			if got != db.MatchAny([]string{"never.matches.this.x", pattern}, eventType) {
				t.Fatalf("MatchAny disagrees with MatchPattern for %q, %q", pattern, eventType)
			}
		}
		if validPattern && strings.Contains(strings.TrimSuffix(pattern, ".*"), "*") && pattern != "*" {
			t.Fatalf("pattern %q has a wildcard in the middle", pattern)
		}
	})
}
