// Package shellquote quotes a value as one word for a POSIX shell: the only
// way a value reaches a shell, in the plugin and in its tests.
package shellquote

import "strings"

// Quote returns s as one single-quoted word for a POSIX shell (sh, dash,
// busybox ash): nothing in it is expanded, split or globbed.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
