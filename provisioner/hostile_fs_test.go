package provisioner

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
		// Issue 22: second names outside every tree a step cleans, and
		// sparse files far larger than any disk, in /var/log and homes.
		extra := hostileExtras(g)
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
			if def.Secrets {
				env = append(env, envVar{"AMIH_OVERWRITE", "1"})
			}
			if def.Name == "logs" {
				env = append(env, envVar{"AMIH_KEEP_JOURNAL", "1"})
			}
			before := allocated(t, g.root)
			res := g.run(def.script(), env...)
			if res.code != 0 && def.Name != "audit" {
				t.Errorf("%s: code %d: %v\n%s", def.Name, res.code, res.kind("error"), res.other)
			}
			if grown := allocated(t, g.root) - before; grown > 1<<20 {
				t.Errorf("%s: the tree holds %d bytes more on the disk after the step (a sparse file overwritten?)", def.Name, grown)
			}
			for _, w := range res.kind("warn") {
				if strings.Contains(w.field(0), "could not overwrite") {
					t.Errorf("%s: %s", def.Name, w.field(0))
				}
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
		for path, want := range extra {
			if got := g.read(path); got != want {
				t.Errorf("the other name %s holds %q, want %q", path, got, want)
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

// hostileExtras plants hard links whose other name lies outside every tree
// a step cleans (a log shipper's archive, a backup of a history) and sparse
// files of 4 GiB apparent size holding a few bytes (/var/log/lastlog of a
// uid of 10^9, a history in a home: this tree is on the host's disk, so they
// stay far smaller than the 100 × a filesystem's size of
// TestLoopSparseFilesStaySparse, which runs on a loop image); it returns the
// other names and the content they must keep.
func hostileExtras(g *guestTree) map[string]string {
	g.t.Helper()
	keep := map[string]string{
		"srv/archive/syslog.1":         "archived log lines\n",
		"srv/backup/alice-history":     "alice's history, backed up\n",
		"opt/ship/spool/auth.log.arch": "shipped\n",
	}
	names := map[string]string{
		"srv/archive/syslog.1":         "var/log/syslog.hardlinked",
		"srv/backup/alice-history":     "home/alice/.bash_history",
		"opt/ship/spool/auth.log.arch": "var/log/auth.log.shipped",
	}
	for other, content := range keep {
		g.file(other, content)
		_ = os.Remove(filepath.Join(g.root, names[other]))
		if err := os.MkdirAll(filepath.Dir(filepath.Join(g.root, names[other])), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.Link(filepath.Join(g.root, other), filepath.Join(g.root, names[other])); err != nil {
			g.t.Fatal(err)
		}
	}
	for _, p := range []string{"var/log/lastlog", "home/admin/.python_history"} {
		g.file(p, "")
		f, err := os.OpenFile(filepath.Join(g.root, p), os.O_WRONLY, 0)
		if err != nil {
			g.t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("login of uid 1000000000\n"), 4<<30); err != nil {
			g.t.Fatal(err)
		}
		f.Close()
	}
	return keep
}

// allocated sums the bytes the tree's files hold on the disk.
func allocated(t *testing.T, root string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}
