package provisioner

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// openBefore opens a file of the fake root before a script runs: what the
// script does to the file's blocks stays readable through it, after the
// file is removed.
func (g *guestTree) openBefore(path string) *os.File {
	g.t.Helper()
	f, err := os.Open(filepath.Join(g.root, path))
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { f.Close() })
	return f
}

// contentNow reads an open file's inode from its start.
func contentNow(t *testing.T, f *os.File) string {
	t.Helper()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestScriptsOverwriteBeforeRemoval: a step that handles secrets
// (AMIH_OVERWRITE=1) writes zeros over every byte of a regular file before
// it removes it, in place (the removed inode, read through a descriptor
// opened before the run, holds zeros of the same length), in a removed tree
// too; never through a link, never a file with another name (a hard link
// keeps its content), never in dry run, never when the step does not
// handle secrets.
func TestScriptsOverwriteBeforeRemoval(t *testing.T) {
	const secret = "export TOKEN=overwrite-me\n"
	cases := []struct {
		name      string
		overwrite string
		dry       bool
		zeroed    bool
	}{
		{"secrets step", "1", false, true},
		{"secrets step in dry run", "1", true, false},
		{"step without secrets", "0", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				g.file("etc/passwd", passwd)
				g.file("root/.bash_history", secret)
				g.file("home/alice/.aws/sso/cache/token.json", secret)
				g.file("home/admin/.bash_history", secret)
				if err := os.Link(filepath.Join(g.root, "home/admin/.bash_history"), filepath.Join(g.root, "srv-kept")); err != nil {
					t.Fatal(err)
				}
				g.file("srv/shared.txt", secret)
				g.symlink("home/alice/.zsh_history", filepath.Join(g.root, "srv/shared.txt"))
				history := g.openBefore("root/.bash_history")
				cached := g.openBefore("home/alice/.aws/sso/cache/token.json")
				env := []envVar{{"AMIH_OVERWRITE", c.overwrite}, {"AMIH_DRY_RUN", flag(c.dry)}}

				res := g.run("shell_history.sh", append(env, envVar{"AMIH_EXTRA_PATTERNS", ""})...)
				cred := g.run("credentials.sh", append(env, envVar{"AMIH_PATHS", ""})...)
				if res.code != 0 || cred.code != 0 {
					t.Fatalf("codes %d %d\n%s%s", res.code, cred.code, res.other, cred.other)
				}
				zeros := strings.Repeat("\x00", len(secret))
				for name, f := range map[string]*os.File{"history": history, "credentials tree": cached} {
					got := contentNow(t, f)
					if c.zeroed && got != zeros {
						t.Errorf("%s: the removed file holds %q, want %d zero bytes", name, got, len(secret))
					}
					if !c.zeroed && got != secret {
						t.Errorf("%s: the file holds %q, want it untouched", name, got)
					}
				}
				if c.dry != g.exists("root/.bash_history") {
					t.Errorf("dry run %v, yet .bash_history exists: %v", c.dry, g.exists("root/.bash_history"))
				}
				// Another name keeps its content; a link's target is not the
				// history's.
				if g.read("srv-kept") != secret || g.read("srv/shared.txt") != secret {
					t.Errorf("a hard link's other name or a link's target lost its content: %q, %q", g.read("srv-kept"), g.read("srv/shared.txt"))
				}
				detail := ""
				for _, r := range res.kind("change") {
					if r.field(1) == "/root/.bash_history" {
						detail = r.field(2)
					}
				}
				if want := map[bool]string{true: "overwritten first (26 bytes)", false: ""}[c.zeroed]; detail != want {
					t.Errorf("the change record of /root/.bash_history says %q, want %q", detail, want)
				}
				hardLinkNoted := false
				for _, r := range res.kind("info") {
					hardLinkNoted = hardLinkNoted || strings.Contains(r.field(0), "/home/admin/.bash_history") && strings.Contains(r.field(0), "hard link")
				}
				if hardLinkNoted != c.zeroed {
					t.Errorf("the hard link's note: %v, want %v (%v)", hardLinkNoted, c.zeroed, res.kind("info"))
				}
			})
		})
	}
}

// TestScriptsOverwriteBeforeTruncation: a log the logs step empties, and a
// mailbox mail_queue empties, are overwritten in place first: a second name
// made before the run (the test's own hard link, so the step must leave it)
// is not overwritten, a file with one name is.
func TestScriptsOverwriteBeforeTruncation(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("var/log/auth.log", "Accepted password for admin\n")
		g.file("var/mail/admin", "Subject: secret\n\nhunter2\n")
		logs := g.run("logs.sh", envVar{"AMIH_OVERWRITE", "1"}, envVar{"AMIH_EXCLUDE", ""}, envVar{"AMIH_KEEP_ROTATED", "0"}, envVar{"AMIH_KEEP_JOURNAL", "1"})
		g.shim("postqueue", "exit 0")
		g.shim("postsuper", "exit 0")
		mail := g.run("mail_queue.sh", envVar{"AMIH_OVERWRITE", "1"}, envVar{"AMIH_FLUSH_TIMEOUT", "1"}, envVar{"AMIH_ON_TIMEOUT", "fail"})
		if logs.code != 0 || mail.code != 0 {
			t.Fatalf("codes %d %d\n%s%s", logs.code, mail.code, logs.other, mail.other)
		}
		for _, c := range []struct {
			run  scriptRun
			verb string
			path string
			size int
		}{{logs, "truncate", "/var/log/auth.log", 28}, {mail, "empty", "/var/mail/admin", 25}} {
			var detail string
			for _, r := range c.run.kind("change") {
				if r.field(0) == c.verb && r.field(1) == c.path {
					detail = r.field(2)
				}
			}
			if want := "overwritten first (" + strconv.Itoa(c.size) + " bytes)"; detail != want {
				t.Errorf("%s %s: %q, want %q", c.verb, c.path, detail, want)
			}
			if g.read(c.path) != "" {
				t.Errorf("%s is not empty", c.path)
			}
		}
	})
}
