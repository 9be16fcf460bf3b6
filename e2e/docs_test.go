//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsLinks checks that every relative link in README.md and docs/ reaches a file
// that exists and, for a #anchor, a heading of that page, and that the README links every
// page of docs/: pages moved or headings renamed would otherwise leave dead links behind.
func TestDocsLinks(t *testing.T) {
	t.Parallel()
	pages, err := filepath.Glob("../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	nested, err := filepath.Glob("../docs/*/*.md") // e.g. docs/monitoring/README.md
	require.NoError(t, err)
	files := append(append([]string{"../README.md"}, pages...), nested...)
	problems, err := linkProblems(files)
	require.NoError(t, err)
	assert.Empty(t, problems)

	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	linked := map[string]bool{}
	for _, l := range markdownLinks(string(readme)) {
		path, _, _ := strings.Cut(l, "#")
		linked[filepath.Clean(path)] = true
	}
	for _, p := range pages {
		rel := filepath.Join("docs", filepath.Base(p))
		assert.True(t, linked[rel], "README.md does not link %s", rel)
	}
}

// TestDocsLinksCatchesDeadLinks shows that the check above finds each kind of dead link.
func TestDocsLinksCatchesDeadLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	readme := write("README.md", "# Top\n\n"+
		"[ok](docs/a.md#rotating-a-webhooks-secret) [ok](docs/a.md#go-githubcomxy) [ok](#top)\n"+
		"[ok](docs/a.md#same-1) [ok](https://example.com/nowhere) `[code](nowhere.md)`\n"+
		"[gone](docs/gone.md) [bad anchor](docs/a.md#nope) [bad self](#nope)\n\n"+
		"```\n[fenced](nowhere.md)\n# not a heading\n```\n")
	a := write("docs/a.md", "# Rotating a webhook's secret\n\n## Go: `github.com/x/y`\n\n## Same\n\n## Same\n\n"+
		"![img](screenshots/missing.png) [up](../README.md#not-a-heading)\n")
	problems, err := linkProblems([]string{readme, a})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"README.md: #nope: no heading with that anchor",
		"README.md: docs/a.md#nope: no heading with that anchor",
		"README.md: docs/gone.md: no such file",
		"docs/a.md: ../README.md#not-a-heading: no heading with that anchor",
		"docs/a.md: screenshots/missing.png: no such file",
	}, relativeTo(dir, problems))
}

func relativeTo(dir string, problems []string) []string {
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = strings.TrimPrefix(filepath.ToSlash(p), filepath.ToSlash(dir)+"/")
	}
	slices.Sort(out)
	return out
}

// linkProblems lists every relative link in files that does not resolve.
func linkProblems(files []string) ([]string, error) {
	anchors := map[string]map[string]bool{} // cleaned path → anchors of its headings
	anchorsOf := func(path string) (map[string]bool, error) {
		if a, ok := anchors[path]; ok {
			return a, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		anchors[path] = headingAnchors(string(b))
		return anchors[path], nil
	}
	var problems []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f, err)
		}
		for _, link := range markdownLinks(string(b)) {
			if schemeRE.MatchString(link) {
				continue // http:, https:, mailto: are not ours to check
			}
			path, anchor, _ := strings.Cut(link, "#")
			target := filepath.Clean(f)
			if path != "" {
				target = filepath.Join(filepath.Dir(f), path)
			}
			if _, err := os.Stat(target); err != nil {
				problems = append(problems, fmt.Sprintf("%s: %s: no such file", f, link))
				continue
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(target, ".md") {
				problems = append(problems, fmt.Sprintf("%s: %s: an anchor on a file that is not markdown", f, link))
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				return nil, err
			}
			if !a[anchor] {
				problems = append(problems, fmt.Sprintf("%s: %s: no heading with that anchor", f, link))
			}
		}
	}
	return problems, nil
}

var (
	linkRE        = regexp.MustCompile(`!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeSpanRE    = regexp.MustCompile("`[^`]*`")
	schemeRE      = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	headingRE     = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	headingLinkRE = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// prose returns the lines of a markdown text outside fenced code blocks.
func prose(md string) []string {
	var lines []string
	fenced := false
	for line := range strings.Lines(md) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			lines = append(lines, strings.TrimRight(line, "\n"))
		}
	}
	return lines
}

// markdownLinks returns the targets of the inline links and images of md, outside code.
func markdownLinks(md string) []string {
	var links []string
	for _, line := range prose(md) {
		for _, m := range linkRE.FindAllStringSubmatch(codeSpanRE.ReplaceAllString(line, ""), -1) {
			links = append(links, m[1])
		}
	}
	return links
}

// headingAnchors returns the anchors GitHub gives the headings of md.
func headingAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range prose(md) {
		m := headingRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		slug := githubSlug(m[1])
		if n := seen[slug]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			anchors[slug] = true
		}
		seen[slug]++
	}
	return anchors
}

// githubSlug is GitHub's anchor for a heading: the rendered text in lower case, with every
// character but letters, digits, spaces, hyphens and underscores dropped, and each space
// made a hyphen.
func githubSlug(heading string) string {
	text := headingLinkRE.ReplaceAllString(heading, "$1")
	text = strings.NewReplacer("`", "", "**", "", "*", "").Replace(text)
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubSlug(t *testing.T) {
	t.Parallel()
	for heading, want := range map[string]string{
		"Quick start":                                  "quick-start",
		"Rotating a webhook's secret":                  "rotating-a-webhooks-secret",
		"Go: `github.com/hookrelay/hookrelay/webhook`": "go-githubcomhookrelayhookrelaywebhook",
		"Webhooks (admin token)":                       "webhooks-admin-token",
		"Admin UI: sign-in and sessions":               "admin-ui-sign-in-and-sessions",
		"Node: `standardwebhooks` or `svix`":           "node-standardwebhooks-or-svix",
		"snake_case **bold** [link](x.md)":             "snake_case-bold-link",
	} {
		assert.Equal(t, want, githubSlug(heading), heading)
	}
}
