package provisioner

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Everything the guest prints is hostile input: before it reaches Packer's
// output, the report or the JUnit file, it passes through guestText, which
// redacts secrets and escapes control characters.

// redactions are the secret scan's rules and credentials in URLs
// (scheme://user:password@host), compiled once.
var redactions = func() []*regexp.Regexp {
	out := []*regexp.Regexp{regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s:]*:[^/@\s]*@`)}
	for _, r := range secretRules {
		out = append(out, regexp.MustCompile(r.Regex))
	}
	return out
}()

// redact replaces every secret in s by a marker naming its rule.
func redact(s string) string {
	for i, re := range redactions {
		if i == 0 {
			s = re.ReplaceAllString(s, "${1}[REDACTED]@")
			continue
		}
		s = re.ReplaceAllString(s, "[REDACTED:"+secretRules[i-1].Name+"]")
	}
	return s
}

// escapeControls shows control characters (but newline and tab), DEL, C1
// controls and invalid UTF-8 as Go escapes, so that no guest text can move
// the cursor, change colours or rewrite what a terminal shows.
func escapeControls(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r < 0xa0):
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// guestText is text from the guest, safe to show and to keep.
func guestText(s string) string { return escapeControls(redact(s)) }

// terminalLine is one line of guest output as a terminal shows it: each
// carriage return goes back to the line's start and what follows is written
// over what was there (apt's and dpkg's progress redraws), so that only the
// last state of every position is kept. guestText still follows it (a
// secret the overlay puts together is redacted there).
func terminalLine(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	// Each state is redacted first: a later state that covers only the
	// start of a secret would leave its tail, which no rule matches.
	parts := strings.Split(s, "\r")
	for i, p := range parts {
		parts[i] = redact(p)
	}
	s = strings.Join(parts, "\r")
	if !utf8.ValidString(s) {
		// Bytes, so that invalid ones are still escaped as they were.
		return string(overlay([]byte(s), '\r'))
	}
	return string(overlay([]rune(s), '\r'))
}

// overlay writes each cr-separated part of s over the start of the parts
// before it.
func overlay[T byte | rune](s []T, cr T) []T {
	var shown []T
	at := 0
	for _, c := range s {
		switch {
		case c == cr:
			at = 0
		case at < len(shown):
			shown[at] = c
			at++
		default:
			shown = append(shown, c)
			at++
		}
	}
	return shown
}
