package provisioner

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestProbeReadsLinuxFactsWithoutPrograms: on Linux the probe's facts (uid,
// boot id, kernel, machine) come from /proc through the shell's own read:
// the same values as id, cat and uname give, with those programs gone from
// PATH (each one a program started, about 40 ms under emulation).
func TestProbeReadsLinuxFactsWithoutPrograms(t *testing.T) {
	want := map[string]string{}
	for fact, argv := range map[string][]string{
		"uid":     {"id", "-u"},
		"boot_id": {"cat", "/proc/sys/kernel/random/boot_id"},
		"kernel":  {"uname", "-r"},
		"machine": {"uname", "-m"},
	} {
		out, err := exec.Command(argv[0], argv[1:]...).Output()
		if err != nil {
			t.Fatal(err)
		}
		want[fact] = strings.TrimSpace(string(out))
	}
	forEachShell(t, func(t *testing.T, g *guestTree) {
		for _, tool := range []string{"id", "cat", "uname"} {
			if err := os.Remove(filepath.Join(g.bin, tool)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		facts := g.run("probe.sh").facts()
		for fact, v := range want {
			if facts[fact] != v {
				t.Errorf("%s %q, want %q", fact, facts[fact], v)
			}
		}
	})
}
