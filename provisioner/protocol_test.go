package provisioner

import (
	"strings"
	"testing"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/shellquote"
)

// hostileStrings are values a template may carry that must reach the guest
// literally: quoting, substitution, globbing, options, control characters.
var hostileStrings = []string{
	"", "plain", "two words", "'", `"`, `\`, `'\''`, "$(id)", "`id`", "${HOME}", "$HOME", "a;b", "a && b",
	"a || b", "a | b", "a > /tmp/x", "< /etc/passwd", "*", "?", "[a-z]*", "~root", "-rf", "--help", "../..",
	"line1\nline2", "tab\there", "trailing\n", "\x01ctl", "ünïcødé", "#comment", "!event", "a\\nb", "%s%n",
}

// runSh runs a snippet under dash (the first of shells) and returns its
// output.
func runSh(t *testing.T, script string) string {
	t.Helper()
	out, err := shells(t)[0].output(script)
	if err != nil {
		t.Fatalf("dash: %v", err)
	}
	return out
}

func TestShQuoteSurvivesTheShell(t *testing.T) {
	for _, s := range hostileStrings {
		if got := runSh(t, "X="+shellquote.Quote(s)+"; printf '%s' \"$X\""); got != s {
			t.Errorf("shellquote.Quote(%q) came back as %q", s, got)
		}
	}
}

// TestRecordFieldsRoundTrip: what lib.sh's rec prints, parseRecord reads
// back exactly, trailing newlines too (a file name may end in one).
func TestRecordFieldsRoundTrip(t *testing.T) {
	for _, sh := range shells(t) {
		for _, s := range hostileStrings {
			want := s
			script := scriptText("lib.sh") + "\nrec fact key " + shellquote.Quote(s) + "\n"
			out, err := sh.output(script)
			if err != nil {
				t.Fatalf("%s: %v", sh.name, err)
			}
			// The record is the first line; lib.sh's completion record follows.
			first, rest, _ := strings.Cut(out, "\namih:done\t")
			r, ok := parseRecord(first)
			if rest == "" {
				t.Errorf("%s: no completion record after the record", sh.name)
			}
			if !ok || r.Kind != "fact" || r.field(0) != "key" || r.field(1) != want {
				t.Errorf("%s: %q came back as %+v (%q)", sh.name, s, r, out)
			}
		}
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		line   string
		ok     bool
		kind   string
		fields []string
	}{
		{"amih:change\tremove\t/root/.bash_history", true, "change", []string{"remove", "/root/.bash_history"}},
		{"amih:warn\ta\\tb\\nc\\\\d", true, "warn", []string{"a\tb\nc\\d"}},
		{"amih:count\tn\t3\r", true, "count", []string{"n", "3"}},
		{"Reading package lists...", false, "", nil},
		{"amih:", false, "", nil},
		{" amih:warn\tx", false, "", nil},
	} {
		r, ok := parseRecord(tc.line)
		if ok != tc.ok || r.Kind != tc.kind || strings.Join(r.Fields, "|") != strings.Join(tc.fields, "|") {
			t.Errorf("parseRecord(%q) = %+v, %v", tc.line, r, ok)
		}
	}
}
