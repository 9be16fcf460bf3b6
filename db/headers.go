package db

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Limits of a webhook's custom headers. Callers may set lower ones (HOOKRELAY_MAX_CUSTOM_HEADERS,
// HOOKRELAY_MAX_CUSTOM_HEADER_BYTES); these are the defaults.
const (
	DefaultMaxCustomHeaders     = 20
	DefaultMaxCustomHeaderBytes = 1024
)

// reservedHeaders are the header names a webhook may not set, lower case, with why: the
// signature headers and what hookrelay or the HTTP client must control for the request to be
// what was signed and to be well formed.
var reservedHeaders = map[string]string{
	"content-type":        "hookrelay sends application/json",
	"content-length":      "it is set from the body",
	"host":                "it comes from the webhook URL",
	"user-agent":          "hookrelay identifies itself (HOOKRELAY_USER_AGENT)",
	"connection":          "it is a hop-by-hop header",
	"keep-alive":          "it is a hop-by-hop header",
	"proxy-connection":    "it is a hop-by-hop header",
	"proxy-authenticate":  "it is a hop-by-hop header",
	"proxy-authorization": "it is a hop-by-hop header",
	"te":                  "it is a hop-by-hop header",
	"trailer":             "it is a hop-by-hop header",
	"transfer-encoding":   "it is a hop-by-hop header",
	"upgrade":             "it is a hop-by-hop header",
	"expect":              "it changes how the request is sent",
}

// ValidateHeaders checks a webhook's custom headers: at most maxHeaders of them; names are
// HTTP tokens, distinct ignoring case, and none reserved (webhook-*, the headers hookrelay
// sets, hop-by-hop headers; Authorization is allowed); values are printable ASCII (space and
// tab inside), not empty, at most maxValueBytes long. The message names the header.
func ValidateHeaders(h map[string]string, maxHeaders, maxValueBytes int) error {
	if len(h) > maxHeaders {
		return fmt.Errorf("at most %d headers are allowed, got %d", maxHeaders, len(h))
	}
	seen := make(map[string]string, len(h))
	for _, name := range HeaderNames(h) {
		if err := ValidateHeaderName(name); err != nil {
			return err
		}
		lower := strings.ToLower(name)
		if other, dup := seen[lower]; dup {
			return fmt.Errorf("header %q: %q names the same header (names ignore case)", name, other)
		}
		seen[lower] = name
		if err := validateHeaderValue(name, h[name], maxValueBytes); err != nil {
			return err
		}
	}
	return nil
}

// ValidateHeaderName checks one custom header name (see ValidateHeaders).
func ValidateHeaderName(name string) error {
	if name == "" {
		return fmt.Errorf("a header name must not be empty")
	}
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("header %q: a name may hold only letters, digits and !#$%%&'*+-.^_`|~", name)
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "webhook-") {
		return fmt.Errorf("header %q: webhook-* headers are the Standard Webhooks signature headers hookrelay sets", name)
	}
	if why, ok := reservedHeaders[lower]; ok {
		return fmt.Errorf("header %q cannot be set: %s", name, why)
	}
	return nil
}

func validateHeaderValue(name, value string, most int) error {
	if value == "" {
		return fmt.Errorf("header %q: the value must not be empty", name)
	}
	if len(value) > most {
		return fmt.Errorf("header %q: the value must be at most %d bytes, got %d", name, most, len(value))
	}
	for i := 0; i < len(value); i++ {
		if c := value[i]; (c < ' ' && c != '\t') || c > '~' {
			return fmt.Errorf("header %q: the value must be printable ASCII (byte %d is 0x%02x)", name, i, c)
		}
	}
	if strings.TrimSpace(value) != value {
		return fmt.Errorf("header %q: the value must not start or end with white space", name)
	}
	return nil
}

// HeaderNames returns the names of h, sorted, so that lists and messages come out the same
// every time.
func HeaderNames(h map[string]string) []string {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
