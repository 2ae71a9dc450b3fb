package provisioner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/hostilefs"
)

// TestHostileFilesystem: the hostile-filesystem suite (internal/hostilefs)
// under dash and busybox against a fake root: every step that walks files
// runs, then every canary outside the documented targets is byte-identical,
// every link still points where it did, every planted leftover inside is
// gone (a log: empty), and the secret scan names every planted secret by
// its exact path. The e2e suite runs the same plan on the real guest.
func TestHostileFilesystem(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		plan := hostilefs.Generate(hostilefs.Options{Prefix: g.root, Seed: 13, Rounds: 25,
			Homes: []string{"root", "home/admin", "home/alice"}, LinkHome: "home/carol"})
		if plan.Paths < 1000 {
			t.Fatalf("only %d generated paths", plan.Paths)
		}
		if err := plan.Apply(g.root); err != nil {
			t.Fatal(err)
		}
		g.file("etc/passwd", passwd+"carol:x:1002:1002::/home/carol:/bin/bash\n")
		g.file("etc/shadow", shadow)
		g.file("proc/mounts", plan.ProcMounts())
		p, err := prepare(map[string]interface{}{"secret_scan": map[string]interface{}{"paths": []string{"/opt", "/srv"}}})
		if err != nil {
			t.Fatal(err)
		}
		findings := map[string]bool{}
		for _, def := range p.plan {
			switch def.Name {
			case "logs", "caches", "shell_history", "credentials", "authorized_keys", "mail_queue", "secret_scan", "audit":
			default:
				continue
			}
			env := def.configOf(&p.config).env()
			if def.Name == "logs" {
				env = append(env, envVar{"AMIH_KEEP_JOURNAL", "1"})
			}
			res := g.run(def.script(), env...)
			if res.code != 0 && def.Name != "audit" {
				t.Errorf("%s: code %d: %v\n%s", def.Name, res.code, res.kind("error"), res.other)
			}
			if def.Name == "secret_scan" {
				for _, f := range res.kind("finding") {
					findings[f.field(1)] = true
				}
			}
		}
		changed := 0
		for path, want := range plan.Canaries {
			data, err := os.ReadFile(filepath.Join(g.root, path))
			if err != nil || hostilefs.Sum(string(data)) != want {
				if changed++; changed <= 10 {
					t.Errorf("canary %q changed or gone: %v", path, err)
				}
			}
		}
		for link, target := range plan.Links {
			if got, err := os.Readlink(filepath.Join(g.root, link)); err != nil || got != filepath.Join(g.root, target) {
				t.Errorf("link %q now points to %q (%v), was %q", link, got, err, target)
			}
		}
		left := 0
		for _, path := range plan.Gone {
			if _, err := os.Lstat(filepath.Join(g.root, path)); err == nil {
				if left++; left <= 10 {
					t.Errorf("leftover %q is still there", path)
				}
			}
		}
		for _, path := range plan.Empty {
			if data, err := os.ReadFile(filepath.Join(g.root, path)); err != nil || len(data) != 0 {
				t.Errorf("log %q was not emptied: %q %v", path, data, err)
			}
		}
		for _, s := range plan.Secrets {
			if !findings[s] {
				t.Errorf("the secret scan did not name %q", s)
			}
		}
		t.Logf("%d generated paths: %d canaries and %d links intact, %d leftovers gone, %d logs emptied, %d secrets named exactly, %d mounts left alone",
			plan.Paths, len(plan.Canaries), len(plan.Links), len(plan.Gone), len(plan.Empty), len(plan.Secrets), len(plan.Mounts))
	})
}
