// Package static holds the admin UI's assets, embedded in the binary so that nothing is
// fetched from a CDN at run time. htmx is vendored at a pinned version (2.0.11, from the npm
// package htmx.org) under a versioned file name, so it can be cached forever.
package static

import "embed"

// FS holds the files served under /static/.
//
//go:embed *.js *.css *.txt
var FS embed.FS
