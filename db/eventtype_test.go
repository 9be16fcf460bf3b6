package db_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hookrelay/hookrelay/db"
)

func TestValidateEventType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, typ string
		ok        bool
	}{
		{"one segment", "ping", true},
		{"two segments", "workflow.completed", true},
		{"many segments", "workflow.step.failed", true},
		{"all allowed characters", "aZ09_-.B-_9", true},
		{"exactly 128 characters", strings.Repeat("a", 128), true},
		{"128 characters with dots", strings.Repeat("a.", 63) + "ab", true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("a", 129), false},
		{"leading dot", ".completed", false},
		{"trailing dot", "workflow.", false},
		{"double dot", "workflow..completed", false},
		{"only a dot", ".", false},
		{"space", "workflow completed", false},
		{"slash", "workflow/completed", false},
		{"colon", "workflow:completed", false},
		{"wildcard", "workflow.*", false},
		{"star alone", "*", false},
		{"unicode letter", "workflow.é", false},
		{"unicode digit", "workflow.٣", false},
		{"emoji", "🚀", false},
		{"newline", "workflow\n", false},
		{"nul byte", "a\x00b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := db.ValidateEventType(tc.typ)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestValidatePattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pattern string
		ok            bool
	}{
		{"all", "*", true},
		{"exact", "workflow.completed", true},
		{"exact one segment", "ping", true},
		{"prefix wildcard", "workflow.*", true},
		{"deep prefix wildcard", "workflow.step.*", true},
		{"128 characters", strings.Repeat("a", 126) + ".*", true},
		{"empty", "", false},
		{"129 characters", strings.Repeat("a", 127) + ".*", false},
		{"bare suffix wildcard", "workflow*", false},
		{"wildcard without prefix", ".*", false},
		{"wildcard in the middle", "workflow.*.failed", false},
		{"leading wildcard", "*.failed", false},
		{"double wildcard", "workflow.*.*", false},
		{"two stars", "**", false},
		{"empty segment before wildcard", "workflow..*", false},
		{"bad character", "work flow.*", false},
		{"unicode", "wörkflow.*", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := db.ValidatePattern(tc.pattern)
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

func TestMatchPattern(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, pattern, typ string
		want               bool
	}{
		{"prefix matches a child", "workflow.*", "workflow.completed", true},
		{"prefix matches a grandchild", "workflow.*", "workflow.step.failed", true},
		{"prefix does not match itself", "workflow.*", "workflow", false},
		{"prefix does not match a longer first segment", "workflow.*", "workflowX.a", false},
		{"prefix does not match another type", "workflow.*", "deploy.completed", false},
		{"prefix does not match a later segment", "workflow.*", "a.workflow.completed", false},
		{"deep prefix", "workflow.step.*", "workflow.step.failed", true},
		{"deep prefix not a sibling", "workflow.step.*", "workflow.completed", false},
		{"star matches one segment", "*", "ping", true},
		{"star matches many segments", "*", "workflow.step.failed", true},
		{"exact matches itself", "workflow.completed", "workflow.completed", true},
		{"exact is case sensitive", "workflow.completed", "Workflow.completed", false},
		{"exact does not match a child", "workflow.completed", "workflow.completed.late", false},
		{"exact does not match a parent", "workflow.completed", "workflow", false},
		{"exact does not match a prefix", "workflow", "workflow.completed", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, db.MatchPattern(tc.pattern, tc.typ))
		})
	}
}

func TestMatchAny(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		patterns []string
		typ      string
		want     bool
	}{
		{"no patterns", nil, "a.b", false},
		{"first matches", []string{"a.*", "b.c"}, "a.x", true},
		{"last matches", []string{"x.y", "b.*", "a.b"}, "a.b", true},
		{"none matches", []string{"x.y", "b.*"}, "a.b", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, db.MatchAny(tc.patterns, tc.typ))
			assert.Equal(t, tc.want, db.Webhook{EventTypes: tc.patterns}.Matches(tc.typ))
		})
	}
}
