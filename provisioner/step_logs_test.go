package provisioner

import (
	"os"
	"path/filepath"
	"slices"
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
		if dry.code != 0 || !slices.Equal(dry.targets("truncate"), sorted(truncated...)) || !slices.Equal(dry.targets("remove"), sorted(rotated...)) || g.read("var/log/syslog") == "" {
			t.Fatalf("dry run: code %d, truncate %v, remove %v\n%s", dry.code, dry.targets("truncate"), dry.targets("remove"), dry.other)
		}
		res := g.run("logs.sh", env...)
		if res.code != 0 || !slices.Equal(res.targets("truncate"), sorted(truncated...)) || !slices.Equal(res.targets("remove"), sorted(rotated...)) {
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

// TestScriptsLogsSQLiteLoginRecords: Debian 13 keeps its login records in
// SQLite: wtmpdb's /var/log/wtmp.db (with a link from /var/lib/wtmpdb) and
// lastlog2's /var/lib/lastlog/lastlog2.db, outside /var/log. Both are
// emptied with their journals (a zero-length file is an empty SQLite
// database; a journal left with content would be rolled back into it), and
// never through a link that leads elsewhere.
func TestScriptsLogsSQLiteLoginRecords(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("var/log/wtmp.db", "SQLite format 3\x00 wtmpdb rows\n")
		g.file("var/log/wtmp.db-journal", "journal pages\n")
		g.symlink("var/lib/wtmpdb/wtmp.db", "../../log/wtmp.db")
		g.file("var/lib/lastlog/lastlog2.db", "SQLite format 3\x00 lastlog2 rows\n")
		g.file("var/lib/lastlog/lastlog2.db-wal", "wal frames\n")
		env := []envVar{{"AMIH_EXCLUDE", ""}, {"AMIH_KEEP_ROTATED", "0"}, {"AMIH_KEEP_JOURNAL", "0"}}
		want := sorted("/var/log/wtmp.db", "/var/log/wtmp.db-journal", "/var/lib/lastlog/lastlog2.db", "/var/lib/lastlog/lastlog2.db-wal")

		res := g.run("logs.sh", env...)
		if res.code != 0 || !slices.Equal(res.targets("truncate"), want) {
			t.Fatalf("code %d, truncate %v, want %v\n%s", res.code, res.targets("truncate"), want, res.other)
		}
		for _, p := range want {
			if !g.exists(p) || g.read(p) != "" {
				t.Errorf("%s not emptied in place", p)
			}
		}
		if !g.exists("/var/lib/wtmpdb/wtmp.db") {
			t.Errorf("wtmpdb's link was removed")
		}

		// A lastlog2.db that is a link out of /var/lib/lastlog is refused.
		g.file("etc/outside.db", "not a login record\n")
		if err := os.Remove(filepath.Join(g.root, "var/lib/lastlog/lastlog2.db")); err != nil {
			t.Fatal(err)
		}
		g.symlink("var/lib/lastlog/lastlog2.db", filepath.Join(g.root, "etc/outside.db"))
		if again := g.run("logs.sh", env...); again.code != 0 || g.read("etc/outside.db") == "" {
			t.Errorf("through a link: code %d, outside file %q\n%s", again.code, g.read("etc/outside.db"), again.other)
		}

		// /var/lib/lastlog itself a link out of the tree: left alone.
		g.file("srv/elsewhere/lastlog2.db", "not this image's login records\n")
		if err := os.RemoveAll(filepath.Join(g.root, "var/lib/lastlog")); err != nil {
			t.Fatal(err)
		}
		g.symlink("var/lib/lastlog", filepath.Join(g.root, "srv/elsewhere"))
		if again := g.run("logs.sh", env...); again.code != 0 || g.read("srv/elsewhere/lastlog2.db") == "" {
			t.Errorf("through a linked folder: code %d, outside file %q\n%s", again.code, g.read("srv/elsewhere/lastlog2.db"), again.other)
		}
	})
}
