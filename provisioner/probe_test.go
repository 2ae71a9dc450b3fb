package provisioner

import (
	"os"
	"path/filepath"
	"testing"
)

// The probe names the basic tools the guest lacks; the script tests' own
// tool set holds every one of them.
func TestProbeNamesMissingTools(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		if got := g.run("probe.sh").facts()["missing_tools"]; got != "" {
			t.Fatalf("missing tools %q with every basic tool there", got)
		}
		for _, tool := range []string{"awk", "xargs"} {
			if err := os.Remove(filepath.Join(g.bin, tool)); err != nil {
				t.Fatal(err)
			}
		}
		if got := g.run("probe.sh").facts()["missing_tools"]; got != "awk xargs" {
			t.Errorf("missing tools %q, want %q", got, "awk xargs")
		}
	})
}
