package provisioner

import (
	"bytes"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// TestGuestOutputShowsWhatATerminalWould (issue 36, item 15): a progress
// line redrawn with carriage returns (apt's and dpkg's) reaches Packer's
// output as a terminal would show it, its last state over the earlier
// ones, not as every state joined by \x0d; other control characters are
// still escaped and secrets still redacted.
func TestGuestOutputShowsWhatATerminalWould(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"(Reading database ... \r(Reading database ... 5%\r(Reading database ... 100%", "(Reading database ... 100%"},
		{"Progress: [ 10%]\rProgress: [100%]\r", "Progress: [100%]"},
		{"long old state\rnew", "newg old state"},
		{"\rstarts with a return", "starts with a return"},
		{"plain line", "plain line"},
		{"bad \xff byte\rB", `Bad \xff byte`},
		{"colour \x1b[31mred\rX", `Xolour \x1b[31mred`},
		{"héllo wörld\rHÉ", "HÉllo wörld"},
		{"token ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\rdone", "donen [REDACTED:github-token]"},
		{"x\rkey ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "key [REDACTED:github-token]"},
		// A later state that covers only the start of a secret leaves no
		// part of it to be seen (each state is redacted before the
		// overlay: the tail alone matches no rule).
		{"token ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\rxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxx:github-token]"},
	} {
		var out bytes.Buffer
		g := &guest{ui: &packersdk.BasicUi{Writer: &out, ErrorWriter: &out}}
		w := &lineWriter{fn: g.show}
		w.Write([]byte(tc.in + "\n"))
		if got := strings.TrimRight(out.String(), "\n"); got != tc.want {
			t.Errorf("%q shown as %q, want %q", tc.in, got, tc.want)
		}
	}
}
