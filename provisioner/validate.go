package provisioner

import (
	"fmt"
	"log"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// unknown is what HCL2 passes for a value that is not known yet at
// `packer validate` time; such values are checked again before Provision.
const unknown = "<unknown>"

// validator collects every configuration problem, each naming its attribute,
// so that `packer validate` reports them all at once.
type validator struct {
	errs *packersdk.MultiError
	// deprecations are the deprecated attributes in use, with what to use
	// instead. A provisioner's Prepare has no way to give Packer warnings:
	// they go to Packer's log here, and to the UI at the build's start.
	deprecations []string
}

// deprecated notes that attr is deprecated, and what to use instead.
func (v *validator) deprecated(attr, instead string) {
	text := fmt.Sprintf("%s is deprecated: %s", attr, instead)
	log.Printf("[WARN] ami-hygiene: %s", text)
	v.deprecations = append(v.deprecations, text)
}

func (v *validator) add(attr, format string, args ...interface{}) {
	v.errs = packersdk.MultiErrorAppend(v.errs, fmt.Errorf("%s: %s", attr, fmt.Sprintf(format, args...)))
}

// err returns nil or a MultiError listing every problem found.
func (v *validator) err() error {
	if v.errs == nil || len(v.errs.Errors) == 0 {
		return nil
	}
	return v.errs
}

// duration parses value (or def when empty); it must be >= 0.
func (v *validator) duration(attr, value, def string) time.Duration {
	d, _ := v.parseDuration(attr, value, def)
	return d
}

// parseDuration parses value (or def when empty) and says whether it is a
// known duration of 0 or more; a problem is added once, naming attr.
func (v *validator) parseDuration(attr, value, def string) (time.Duration, bool) {
	if value == "" {
		value = def
	}
	if value == unknown {
		return 0, false
	}
	d, err := time.ParseDuration(value)
	switch {
	case err != nil:
		v.add(attr, "%q is not a duration (examples: \"90s\", \"15m\", \"1h30m\")", value)
		return 0, false
	case d < 0:
		v.add(attr, "%q is negative; durations must be 0 or more", value)
		return d, false
	}
	return d, true
}

// wait parses a duration that bounds a wait (or def when empty): it must be
// more than 0, since 0 would not wait at all. One mistake gives one error.
func (v *validator) wait(attr, value, def string) time.Duration {
	d, ok := v.parseDuration(attr, value, def)
	if ok && d == 0 {
		v.add(attr, "must be more than 0s (it bounds a wait)")
	}
	return d
}

// oneOf checks that value is one of allowed.
func (v *validator) oneOf(attr, value string, allowed ...string) {
	if value == unknown {
		return
	}
	for _, a := range allowed {
		if value == a {
			return
		}
	}
	v.add(attr, "%q is not allowed; use one of %s", value, quoteList(allowed))
}

// safeText rejects what cannot travel safely as one line of script input:
// empty values, invalid UTF-8, control characters (newlines among them).
func (v *validator) safeText(attr, value string) bool {
	switch {
	case value == "":
		v.add(attr, "must not be empty")
	case !utf8.ValidString(value):
		v.add(attr, "must be valid UTF-8")
	case strings.IndexFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		v.add(attr, "%q contains a control character (newline, tab, ...)", value)
	case len(value) > 4096:
		v.add(attr, "is %d bytes long; at most 4096 are allowed", len(value))
	default:
		return true
	}
	return false
}

// unitName is the systemd unit-name character set (ASCII letters, digits,
// ":-_.\@"), which also covers OpenRC and SysV service names.
var unitName = regexp.MustCompile(`^[A-Za-z0-9:_.\\@-]+$`)

// serviceName checks a service name.
func (v *validator) serviceName(attr, name string) {
	if name == unknown || !v.safeText(attr, name) {
		return
	}
	switch {
	case len(name) > 255:
		v.add(attr, "%q is longer than 255 characters", name)
	case strings.HasPrefix(name, "-"):
		v.add(attr, "%q starts with '-'", name)
	case !unitName.MatchString(name):
		v.add(attr, "%q is not a service name: use ASCII letters, digits and \":-_.\\@\" only", name)
	case name == "." || name == ".." || strings.Contains(name, ".."):
		v.add(attr, "%q is not a service name", name)
	}
}

// userNamePattern is the portable POSIX user-name set (plus a trailing $ for
// Samba machine accounts).
var userNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)

// userName checks a user name.
func (v *validator) userName(attr, name string) {
	if name == unknown || !v.safeText(attr, name) {
		return
	}
	if len(name) > 32 || !userNamePattern.MatchString(name) {
		v.add(attr, "%q is not a user name: up to 32 of A-Z a-z 0-9 _ . - (not starting with - or .)", name)
	}
}

// protectedPaths may never be removed as a whole, whatever a template says.
var protectedPaths = map[string]bool{
	"/": true, "/bin": true, "/boot": true, "/dev": true, "/etc": true, "/home": true,
	"/lib": true, "/lib64": true, "/opt": true, "/proc": true, "/root": true, "/run": true,
	"/sbin": true, "/srv": true, "/sys": true, "/tmp": true, "/usr": true, "/var": true,
	"/etc/ssh": true, "/var/lib": true, "/var/log": true, "/usr/local": true,
}

// guestPath checks an absolute, clean, literal guest path that a step may
// remove.
func (v *validator) guestPath(attr, p string) {
	if v.literalPath(attr, p) && protectedPaths[p] {
		v.add(attr, "%q is a system directory and cannot be removed", p)
	}
}

// literalPath checks an absolute, clean guest path without glob characters;
// it tells whether the path passed (an unknown value does not).
func (v *validator) literalPath(attr, p string) bool {
	if p == unknown || !v.safeText(attr, p) {
		return false
	}
	switch {
	case !strings.HasPrefix(p, "/"):
		v.add(attr, "%q is not an absolute path", p)
	case path.Clean(p) != p:
		v.add(attr, "%q is not a clean path (no \"..\", \".\", \"//\" or trailing \"/\"); write %q", p, path.Clean(p))
	case strings.ContainsAny(p, "*?[]{}"):
		v.add(attr, "%q contains glob characters; paths are taken literally", p)
	default:
		return true
	}
	return false
}

// bracketExpr is a glob's bracket expression ([abc], [!.], [a-z]).
var bracketExpr = regexp.MustCompile(`\[!?\]?[^\]]*\]`)

// homeGlob checks a glob relative to a home directory: its last component
// must name something (a literal character besides dots), so that no pattern
// matches every file of a home.
func (v *validator) homeGlob(attr, g string) {
	if g == unknown || !v.safeText(attr, g) {
		return
	}
	last := g[strings.LastIndex(g, "/")+1:]
	literal := strings.Trim(bracketExpr.ReplaceAllString(last, ""), "*?.")
	literal = strings.NewReplacer("*", "", "?", "").Replace(literal)
	switch {
	case strings.HasPrefix(g, "/"):
		v.add(attr, "%q must be relative to the home directory (no leading \"/\")", g)
	case strings.HasPrefix(g, "-"):
		v.add(attr, "%q starts with '-'", g)
	case g == ".." || strings.HasPrefix(g, "../") || strings.Contains(g, "/../") || strings.HasSuffix(g, "/.."):
		v.add(attr, "%q leaves the home directory", g)
	case strings.Trim(literal, ".") == "":
		v.add(attr, "%q does not name a file: its last part needs a literal name besides dots and wildcards (e.g. \".irb_history\", \"*.hist\")", g)
	}
}

// regex compiles an RE2 expression.
func (v *validator) regex(attr, expr string) *regexp.Regexp {
	if expr == "" || expr == unknown {
		return nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		v.add(attr, "%q is not a valid RE2 regular expression: %v", expr, err)
		return nil
	}
	return re
}

// localPath checks a path on the machine running Packer.
func (v *validator) localPath(attr, p string) {
	if p == "" || p == unknown {
		return
	}
	if !v.safeText(attr, p) {
		return
	}
	if strings.HasSuffix(p, "/") {
		v.add(attr, "%q names a directory; give a file name", p)
	}
}

func quoteList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// safeCommand checks a user command: any shell text the user wrote, as long
// as it is not blank, valid UTF-8 without NUL bytes and of reasonable size. It reaches
// the guest as data (an environment value) and runs through `sh -c`.
func (v *validator) safeCommand(attr, cmd string) {
	switch {
	case strings.TrimSpace(cmd) == "":
		v.add(attr, "is blank: a command that runs nothing always passes; give the shell command to run")
	case !utf8.ValidString(cmd):
		v.add(attr, "must be valid UTF-8")
	case strings.ContainsRune(cmd, 0):
		v.add(attr, "contains a NUL byte")
	case len(cmd) > 65536:
		v.add(attr, "is %d bytes long; at most 65536 are allowed", len(cmd))
	}
}

// guestGlob checks an absolute shell pattern on the guest that must start
// with one of prefixes.
func (v *validator) guestGlob(attr, g string, prefixes ...string) {
	if g == unknown || !v.safeText(attr, g) {
		return
	}
	for _, p := range prefixes {
		if strings.HasPrefix(g, p) && len(g) > len(p) {
			if strings.Contains("/"+g+"/", "/../") {
				v.add(attr, "%q must not contain \"..\"", g)
			}
			return
		}
	}
	v.add(attr, "%q must be an absolute pattern under %s", g, quoteList(prefixes))
}

// sizePattern is a byte count with an optional binary unit.
var sizePattern = regexp.MustCompile(`^([0-9]{1,12})([kKMG]?)i?B?$`)

// size parses a byte count such as "512k" or "1M" (or def when empty).
func (v *validator) size(attr, value, def string) int64 {
	if value == "" {
		value = def
	}
	if value == unknown {
		return 0
	}
	m := sizePattern.FindStringSubmatch(value)
	if m == nil || (m[2] == "" && strings.HasSuffix(value, "iB")) {
		v.add(attr, "%q is not a size (examples: \"65536\", \"512k\", \"1M\", \"2G\")", value)
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "k": 10, "K": 10, "M": 20, "G": 30}[m[2]]
	n <<= shift
	if n < 1 {
		v.add(attr, "%q is too small; give at least 1 byte", value)
	}
	return n
}
