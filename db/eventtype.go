package db

import (
	"errors"
	"strings"
)

// MaxEventTypeLen is the longest event type (and pattern) accepted.
const MaxEventTypeLen = 128

// ValidateEventType checks that t is one or more dot-separated segments of [A-Za-z0-9_-],
// at most MaxEventTypeLen characters in all.
func ValidateEventType(t string) error {
	if t == "" {
		return errors.New("must not be empty")
	}
	if len(t) > MaxEventTypeLen {
		return errors.New("must be at most 128 characters")
	}
	for seg := range strings.SplitSeq(t, ".") {
		if seg == "" {
			return errors.New("must be dot-separated segments without empty parts")
		}
		for i := 0; i < len(seg); i++ {
			if !segmentChar(seg[i]) {
				return errors.New("segments may contain only letters, digits, '_' and '-'")
			}
		}
	}
	return nil
}

func segmentChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// ValidatePattern checks a webhook filter pattern: "*", an exact event type, or an event
// type followed by ".*".
func ValidatePattern(p string) error {
	if p == "*" {
		return nil
	}
	if len(p) > MaxEventTypeLen {
		return errors.New("must be at most 128 characters")
	}
	if prefix, ok := strings.CutSuffix(p, ".*"); ok {
		return ValidateEventType(prefix)
	}
	return ValidateEventType(p)
}

// MatchPattern reports whether eventType matches pattern. "workflow.*" matches
// "workflow.completed" and "workflow.step.failed" but not "workflow" itself.
func MatchPattern(pattern, eventType string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		// prefix keeps its trailing dot, so "workflow.*" cannot match "workflowX.y".
		return len(eventType) > len(prefix) && strings.HasPrefix(eventType, prefix)
	}
	return pattern == eventType
}

// MatchAny reports whether eventType matches any of patterns.
func MatchAny(patterns []string, eventType string) bool {
	for _, p := range patterns {
		if MatchPattern(p, eventType) {
			return true
		}
	}
	return false
}
