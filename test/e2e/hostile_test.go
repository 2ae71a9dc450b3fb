//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/hostilefs"
)

// TestHostileFilesystemOnTheGuest: the hostile-filesystem suite of the unit
// tests (internal/hostilefs), planted on the real guest with real tmpfs
// mounts inside a home, under /var/log and under /tmp, then every step that
// walks files runs through Packer. Read through the guest agent afterwards:
// every canary byte-identical, every kept link as it was, every leftover
// gone, every log emptied; the secret scan allowed exactly the planted
// secrets (and found nothing else).
func TestHostileFilesystemOnTheGuest(t *testing.T) {
	bed := NewBed(t, "hostile")
	plan := hostilefs.Generate(hostilefs.Options{Seed: 13, Rounds: 25,
		Homes: []string{"root", "home/hx1", "home/hx2"}, LinkHome: "home/hx3"})
	plant := filepath.Join(bed.Dir, "plant.sh")
	install := filepath.Join(bed.Dir, "install-check.sh")
	users := "for u in hx1 hx2 hx3; do id \"$u\" >/dev/null 2>&1 || useradd -m -s /bin/bash \"$u\"; done\n"
	// Debian 13 mounts a tmpfs on /tmp, which caches leaves alone (it is
	// not part of the image): the plan's /tmp entries need the disk's /tmp.
	users += unmountTmpfsTmp
	if err := os.WriteFile(plant, []byte(users+plan.Script()), 0o644); err != nil {
		t.Fatal(err)
	}
	check := "mkdir -p /usr/local/lib\ncat >/usr/local/lib/hostile-check.sh <<'CHECK'\n" + plan.CheckScript() + "CHECK\n"
	if err := os.WriteFile(install, []byte(check), 0o644); err != nil {
		t.Fatal(err)
	}
	bed.MustBuild(Template{Scripts: []string{plant, install}, Hygiene: hygieneBody(`    steps = ["logs", "caches", "shell_history", "credentials", "authorized_keys", "secret_scan", "audit"]
    secret_scan {
      paths = ["/opt/hostile", "/srv/hostile"]
      allow = ["/opt/hostile/*", "/srv/hostile/*"]
    }
    audit { on_finding = "warn" }`)})
	state := bed.Inspect("sh /usr/local/lib/hostile-check.sh")
	for i, bad := range state["bad"] {
		if i < 20 {
			t.Errorf("%s", bad)
		}
	}
	want := len(plan.Canaries) + len(plan.Links) + len(plan.Gone) + len(plan.Empty)
	if got := atoi(first(state, "checked")); got != want {
		t.Errorf("checked %d expectations, want %d", got, want)
	}
	for _, s := range bed.Report("report.json").Steps {
		if s.Name == "secret_scan" && (s.Counts["allowed"] != len(plan.Secrets) || s.Counts["findings"] != 0) {
			t.Errorf("secret_scan counts %v, want %d allowed and no finding", s.Counts, len(plan.Secrets))
		}
	}
	t.Logf("%d generated paths on the guest: %d canaries, %d links, %d leftovers, %d logs, %d secrets, %d tmpfs mounts; %d problems",
		plan.Paths, len(plan.Canaries), len(plan.Links), len(plan.Gone), len(plan.Empty), len(plan.Secrets), len(plan.Mounts), len(state["bad"]))
}
