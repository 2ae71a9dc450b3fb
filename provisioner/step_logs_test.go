package provisioner

import (
	"os"
	"path/filepath"
	"testing"
)

func TestScriptsLogs(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		truncated := []string{"/var/log/syslog", "/var/log/auth.log", "/var/log/apache2/access.log", "/var/log/wtmp",
			"/var/log/btmp", "/var/log/lastlog", "/var/log/audit/audit.log", "/run/utmp"}
		rotated := []string{"/var/log/syslog.1", "/var/log/syslog.2.gz", "/var/log/dpkg.log-20240101", "/var/log/apache2/error.log.14", "/var/log/messages.old"}
		kept := []string{"/var/log/myapp/keep.log", "/var/log/journal/abc/system.journal"}
		for _, p := range append(append(append([]string{}, truncated...), rotated...), kept...) {
			g.file(p, "log line\n")
		}
		g.file("var/log/empty.log", "")
		if err := os.Chmod(filepath.Join(g.root, "var/log/auth.log"), 0o640); err != nil {
			t.Fatal(err)
		}
		g.symlink("var/log/link.log", filepath.Join(g.root, "etc/outside"))
		g.file("etc/outside", "not a log\n")
		env := []envVar{{"AMIH_EXCLUDE", "/var/log/myapp/*"}, {"AMIH_KEEP_ROTATED", "0"}, {"AMIH_KEEP_JOURNAL", "0"}}

		dry := g.run("logs.sh", append(env, envVar{"AMIH_DRY_RUN", "1"})...)
		if dry.code != 0 || !equal(dry.targets("truncate"), sorted(truncated...)) || !equal(dry.targets("remove"), sorted(rotated...)) || g.read("var/log/syslog") == "" {
			t.Fatalf("dry run: code %d, truncate %v, remove %v\n%s", dry.code, dry.targets("truncate"), dry.targets("remove"), dry.other)
		}
		res := g.run("logs.sh", env...)
		if res.code != 0 || !equal(res.targets("truncate"), sorted(truncated...)) || !equal(res.targets("remove"), sorted(rotated...)) {
			t.Fatalf("code %d, truncate %v, remove %v\n%s", res.code, res.targets("truncate"), res.targets("remove"), res.other)
		}
		for _, p := range truncated {
			if g.read(p) != "" {
				t.Errorf("%s not emptied", p)
			}
		}
		g.allGone(rotated)
		for _, p := range append(kept, "/var/log/empty.log", "/etc/outside") {
			if !g.exists(p) || (p != "/var/log/empty.log" && g.read(p) == "") {
				t.Errorf("%s was touched", p)
			}
		}
		if st, err := os.Stat(filepath.Join(g.root, "var/log/auth.log")); err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("auth.log mode changed: %v %v", st.Mode(), err)
		}
		if again := g.run("logs.sh", env...); again.code != 0 || len(again.kind("change")) != 0 {
			t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
		}
	})
}
