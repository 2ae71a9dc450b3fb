package provisioner

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The destructive operations (issue 22) never hurt what is not theirs: one
// test per item, under dash and busybox; those that need a real filesystem
// run on loop-mounted images (loop_image_test.go).

// chownTree gives a tree of the fake root to uid.
func (g *guestTree) chownTree(path string, uid int) {
	g.t.Helper()
	if os.Geteuid() != 0 {
		g.t.Skip("giving files to another uid needs root (make test runs as root)")
	}
	filepath.Walk(filepath.Join(g.root, path), func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, uid, uid)
		}
		if err != nil {
			g.t.Fatal(err)
		}
		return nil
	})
}

// userdelShim removes the user's passwd line; "refuse" makes it refuse as
// userdel does when the user still has a process (exit 8).
func userdelShim(g *guestTree, refuse bool) {
	body := `eval "u=\${$#}"; sed -i "/^$u:/d" "$ROOT/etc/passwd"; [ "$1" != -r ] || rm -rf "$ROOT/home/$u"`
	if refuse {
		body = `echo "userdel: user $1 is currently used by process 4242" >&2; exit 8`
	}
	g.shim("userdel", body)
}

// deployUser gives the fake guest the user deploy (uid 1005) with
// /home/deploy, holding files (relative to the home), all deploy's.
func deployUser(g *guestTree, files map[string]string) {
	g.t.Helper()
	g.file("etc/passwd", passwd+"deploy:x:1005:1005::/home/deploy:/bin/sh\n")
	g.dir("home/deploy")
	for name, content := range files {
		g.file(filepath.Join("home/deploy", name), content)
	}
	g.chownTree("home/deploy", 1005)
}

func shutdownPhase(g *guestTree, users string, extra ...envVar) scriptRun {
	return g.run("final_shutdown.sh", append([]envVar{{"AMIH_PHASE", "shutdown"}, {"AMIH_KEEP_JOURNAL", "1"}, {"AMIH_REMOVE_USERS", users}}, extra...)...)
}

// TestScriptsRemoveUserSharedHome (item 1): a listed user whose home is
// shared with another account, or holds another account's home, is removed
// but its home is neither overwritten nor removed; a home holding a file of
// another owner neither. On the old code /home/shared/ci/state.db was
// zeroed and deleted.
func TestScriptsRemoveUserSharedHome(t *testing.T) {
	cases := []struct {
		name, passwd string
		setup        func(g *guestTree)
		kept         string
	}{
		{"another account's home below it", "deploy:x:1005:1005::/home/shared:/bin/sh\nci:x:1006:1006::/home/shared/ci:/bin/sh\n",
			func(g *guestTree) {
				g.file("home/shared/build.log", "deploy's")
				g.file("home/shared/ci/state.db", "ci's database")
				g.chownTree("home/shared", 1005)
				g.chownTree("home/shared/ci", 1006)
			}, "home/shared/ci/state.db"},
		{"the same home as another account", "deploy:x:1005:1005::/home/shared:/bin/sh\nci:x:1006:1006::/home/shared/:/bin/sh\n",
			func(g *guestTree) {
				g.file("home/shared/state.db", "ci's database")
				g.chownTree("home/shared", 1005)
			}, "home/shared/state.db"},
		{"a file of another account in it", "deploy:x:1005:1005::/home/deploy:/bin/sh\napp:x:998:998::/var/lib/app:/usr/sbin/nologin\n",
			func(g *guestTree) {
				g.file("home/deploy/opt/app.conf", "the app's")
				g.chownTree("home/deploy", 1005)
				g.chownTree("home/deploy/opt/app.conf", 998)
			}, "home/deploy/opt/app.conf"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				g.file("etc/passwd", passwd+c.passwd)
				c.setup(g)
				want := g.read(c.kept)
				userdelShim(g, false)
				res := shutdownPhase(g, "deploy")
				if res.code != 0 || !slices.Equal(res.targets("remove-user"), []string{"deploy"}) {
					t.Fatalf("code %d, removed %v\n%s", res.code, res.targets("remove-user"), res.other)
				}
				if got := g.read(c.kept); got != want {
					t.Errorf("%s: %q, want %q", c.kept, got, want)
				}
				if w := res.kind("warn"); len(w) != 1 || !strings.Contains(w[0].field(0), "left the home") {
					t.Errorf("warnings %v, want one naming the home left alone", w)
				}
			})
		})
	}
}

// TestScriptsRemoveUserRefused (item 1): when userdel refuses (the user still
// has a process), nothing of the home is overwritten, and the failure is
// noted where the audit reads it; the cleanup goes on. On the old code
// every file of the home was NULs before userdel refused.
func TestScriptsRemoveUserRefused(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		deployUser(g, map[string]string{"work.txt": "deploy's work"})
		g.file("var/lib/systemd/random-seed", "seed")
		userdelShim(g, true)
		res := shutdownPhase(g, "deploy")
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		if got := g.read("home/deploy/work.txt"); got != "deploy's work" {
			t.Errorf("the home of a user userdel refused to remove was touched: %q", got)
		}
		if !strings.Contains(g.read("var/lib/ami-hygiene/final-shutdown.failed"), "could not remove user deploy") {
			t.Errorf("the failure was not noted: %q", g.read("var/lib/ami-hygiene/final-shutdown.failed"))
		}
		if len(res.targets("remove-user")) != 0 {
			t.Errorf("a refused removal was reported done: %v", res.targets("remove-user"))
		}
	})
}

// TestScriptsRemoveUserMountInHome (item 2): a filesystem mounted inside the
// listed user's home (a bind mount of /opt/app at ~/cache) keeps every
// file, and the user is reported removed. On the old code it was zeroed
// and deleted.
func TestScriptsRemoveUserMountInHome(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		deployUser(g, map[string]string{"cache/app.db": "the app's data"})
		g.file("proc/mounts", "/dev/vda1 / ext4 rw 0 0\n/dev/vda1 /home/deploy/cache ext4 rw 0 0\n")
		userdelShim(g, false)
		res := shutdownPhase(g, "deploy")
		if res.code != 0 || !slices.Equal(res.targets("remove-user"), []string{"deploy"}) {
			t.Fatalf("code %d, removed %v\n%s", res.code, res.targets("remove-user"), res.other)
		}
		if got := g.read("home/deploy/cache/app.db"); got != "the app's data" {
			t.Errorf("a file of a filesystem mounted in the home: %q", got)
		}
	})
}

// TestScriptsRemoveUserOwnHome: a home that is the user's alone (root's
// files in it are the build's) goes, with its mailbox, overwritten first,
// after userdel (never -r or -f). The e2e found the first version of the
// guard leaving the build user's home in the image for a log root wrote.
func TestScriptsRemoveUserOwnHome(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		deployUser(g, map[string]string{".bash_history": "export TOKEN=s3cret\n"})
		g.file("var/mail/deploy", "From root\n")
		// What the build wrote there through sudo is root's: the home is
		// still the user's own.
		g.file("home/deploy/build.log", "build output\n")
		g.chownTree("var/mail/deploy", 1005)
		history := g.openBefore("home/deploy/.bash_history")
		userdelShim(g, false)
		res := shutdownPhase(g, "deploy")
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		g.allGone([]string{"home/deploy", "var/mail/deploy"})
		if got := contentNow(t, history); strings.Contains(got, "s3cret") {
			t.Errorf("the removed home was not overwritten first")
		}
		if !g.called("userdel deploy") || g.called("userdel -") {
			t.Errorf("userdel calls %v, want a plain userdel deploy", g.calls())
		}
	})
}

// TestScriptsShutdownGoesOnAfterAFailure (item 10): a login record that
// cannot be emptied (append-only: chattr +a) is noted, and the rest of the
// cleanup still runs: the random seed and the listed user go. On the old
// code the shell ended at the failed redirection, silently.
func TestScriptsShutdownGoesOnAfterAFailure(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		loopImage(g, "ext4", 16)
		deployUser(g, nil)
		g.file("var/log/wtmp", "login record")
		g.file("var/lib/systemd/random-seed", "seed")
		if out, err := exec.Command("chattr", "+a", filepath.Join(g.root, "var/log/wtmp")).CombinedOutput(); err != nil {
			t.Fatalf("chattr: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("chattr", "-a", filepath.Join(g.root, "var/log/wtmp")).Run() })
		userdelShim(g, false)
		res := shutdownPhase(g, "deploy")
		if res.code != 0 || !res.completed {
			t.Fatalf("code %d, completed %v\n%s", res.code, res.completed, res.other)
		}
		g.allGone([]string{"var/lib/systemd/random-seed", "home/deploy"})
		if strings.Contains(g.read("etc/passwd"), "deploy") {
			t.Errorf("the listed user stayed")
		}
		if !strings.Contains(g.read("var/lib/ami-hygiene/final-shutdown.failed"), "/var/log/wtmp") {
			t.Errorf("the failure was not noted: %q", g.read("var/lib/ami-hygiene/final-shutdown.failed"))
		}
	})
}

// TestScriptsRemoveUsersLockout (item 11): remove_users naming the only
// users with a key, while cloud-init does not run, is refused at install
// time, before anything is touched; with another user's key, or with
// cloud-init running, it is not.
func TestScriptsRemoveUsersLockout(t *testing.T) {
	cases := []struct {
		name       string
		otherKey   bool
		cloudInit  bool
		wantRefuse bool
	}{
		{"only key holder, no cloud-init", false, false, true},
		{"another user has a key", true, false, false},
		{"cloud-init adds the instance's key", false, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				g.file("etc/passwd", passwd+"deploy:x:1005:1005::/home/deploy:/bin/sh\n")
				g.file("home/deploy/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nza deploy@ci\n")
				if c.otherKey {
					g.file("home/admin/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nzb admin@ops\n")
				}
				if c.cloudInit {
					g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - ssh\n")
					g.shim("cloud-init", "exit 0")
				}
				g.dir("run/systemd/system")
				g.shim("systemctl", `case $1 in is-active) [ -f "$STATE/started" ] ;; start) touch "$STATE/started" ;; esac`)
				res := g.run("final_shutdown.sh", (&FinalShutdown{RemoveUsers: []string{"deploy"}}).env()...)
				refused := res.code != 0 && strings.Contains(res.text("error"), "last SSH keys")
				if refused != c.wantRefuse {
					t.Errorf("refused %v, want %v: code %d %v", refused, c.wantRefuse, res.code, res.kind("error"))
				}
				if c.wantRefuse && g.exists("run/ami-hygiene/final-shutdown.sh") {
					t.Errorf("the unit was installed although the removal was refused")
				}
			})
		})
	}
}

// TestScriptsTruncateHardLink (item 8): a log with a second name outside
// /var/log (a shipper's archive) is never emptied in place: its name in
// /var/log becomes a new empty file, the archive keeps its content. On the
// old code the archive was emptied.
func TestScriptsTruncateHardLink(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("srv/archive/app.log.1", "archived lines\n")
		if err := os.Link(filepath.Join(g.root, "srv/archive/app.log.1"), filepath.Join(g.root, "var/log/app.log")); err != nil {
			g.dir("var/log")
			if err := os.Link(filepath.Join(g.root, "srv/archive/app.log.1"), filepath.Join(g.root, "var/log/app.log")); err != nil {
				t.Fatal(err)
			}
		}
		os.Chmod(filepath.Join(g.root, "var/log/app.log"), 0o640)
		res := g.run("logs.sh", envVar{"AMIH_EXCLUDE", ""}, envVar{"AMIH_KEEP_ROTATED", "0"}, envVar{"AMIH_KEEP_JOURNAL", "1"}, envVar{"AMIH_OVERWRITE", "1"})
		if res.code != 0 {
			t.Fatalf("code %d %v\n%s", res.code, res.kind("error"), res.other)
		}
		if got := g.read("srv/archive/app.log.1"); got != "archived lines\n" {
			t.Errorf("the archive (the other name) lost its content: %q", got)
		}
		if got := g.read("var/log/app.log"); got != "" {
			t.Errorf("/var/log/app.log holds %q, want it empty", got)
		}
		if st, err := os.Stat(filepath.Join(g.root, "var/log/app.log")); err != nil || st.Mode().Perm() != 0o640 {
			t.Errorf("the new empty file's mode: %v %v, want 0640", st.Mode(), err)
		}
	})
}

// TestScriptsWtmpdb (item 9): wtmpdb's own database in /var/lib/wtmpdb is
// emptied by the logs step and at the final shutdown.
func TestScriptsWtmpdb(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("var/lib/wtmpdb/wtmp.db", "login from 203.0.113.9")
		g.dir("var/log")
		if res := g.run("logs.sh", envVar{"AMIH_EXCLUDE", ""}, envVar{"AMIH_KEEP_ROTATED", "0"}, envVar{"AMIH_KEEP_JOURNAL", "1"}); res.code != 0 || g.read("var/lib/wtmpdb/wtmp.db") != "" {
			t.Errorf("logs: code %d, wtmp.db %q", res.code, g.read("var/lib/wtmpdb/wtmp.db"))
		}
		g.file("var/lib/wtmpdb/wtmp.db", "shutdown record")
		g.file("etc/passwd", passwd)
		if res := shutdownPhase(g, ""); res.code != 0 || g.read("var/lib/wtmpdb/wtmp.db") != "" {
			t.Errorf("final shutdown: code %d, wtmp.db %q", res.code, g.read("var/lib/wtmpdb/wtmp.db"))
		}
	})
}

// TestScriptsEmptiedAgainAtShutdown (issue 23, item 3): what the logs and
// mail_queue steps emptied and what was written there since (rsyslog's
// lines of the build, root's mail) is emptied again at the final shutdown;
// a log the logs step was told to keep (exclude) is not.
func TestScriptsEmptiedAgainAtShutdown(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("var/log/auth.log", "before the logs step\n")
		g.file("var/log/app/kept.log", "kept\n")
		g.file("var/log/sub/sub.log", "emptied by the logs step\n")
		g.file("var/mail/root", "From MAILER-DAEMON\n")
		// Empty when the steps ran, written to later (issue 23): rsyslog's
		// kern.log and mail.log, a mailbox, and one made after mail_queue.
		g.file("var/log/mail.log", "")
		g.file("var/mail/admin", "")
		logs := g.run("logs.sh", envVar{"AMIH_EXCLUDE", "/var/log/app/*"}, envVar{"AMIH_KEEP_ROTATED", "0"}, envVar{"AMIH_KEEP_JOURNAL", "1"})
		mail := g.run("mail_queue.sh", envVar{"AMIH_FLUSH_TIMEOUT", "1"}, envVar{"AMIH_ON_TIMEOUT", "fail"})
		if logs.code != 0 || mail.code != 0 {
			t.Fatalf("codes %d %d\n%s%s", logs.code, mail.code, logs.other, mail.other)
		}
		g.file("var/log/auth.log", "sudo: builder : COMMAND=/bin/sh\n")
		// A folder of /var/log replaced by a link since: what it leads to is
		// not what the logs step emptied.
		g.file("srv/elsewhere/sub.log", "not a log of the image\n")
		os.RemoveAll(filepath.Join(g.root, "var/log/sub"))
		g.symlink("var/log/sub", filepath.Join(g.root, "srv/elsewhere"))
		g.file("var/mail/root", "*** SECURITY information for debian ***\n")
		g.file("var/log/app/kept.log", "kept\nmore\n")
		g.file("var/log/mail.log", "postfix/local: to=<root@localhost>, status=sent\n")
		g.file("var/mail/admin", "*** SECURITY information for debian ***\n")
		g.file("var/mail/builder", "*** SECURITY information for debian ***\n")
		if res := shutdownPhase(g, ""); res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		for _, p := range []string{"var/log/auth.log", "var/mail/root", "var/log/mail.log", "var/mail/admin", "var/mail/builder"} {
			if got := g.read(p); got != "" {
				t.Errorf("%s holds %q after the final shutdown", p, got)
			}
		}
		if got := g.read("srv/elsewhere/sub.log"); got != "not a log of the image\n" {
			t.Errorf("a file reached through a link that appeared since was emptied: %q", got)
		}
		if got := g.read("var/log/app/kept.log"); got != "kept\nmore\n" {
			t.Errorf("an excluded log was emptied: %q", got)
		}
	})
}

// TestScriptsFreeSpaceRootfsFirst (item 12): with `rootfs / rootfs rw` listed
// before the real root (older kernels), paths = ["/"] still clears /.
func TestScriptsFreeSpaceRootfsFirst(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		freeSpaceGuest(g)
		g.file("proc/mounts", "rootfs / rootfs rw 0 0\n/dev/vda1 / ext4 rw,relatime 0 0\n")
		res := g.run("free_space.sh", envVar{"AMIH_MODE", "zero"}, envVar{"AMIH_PATHS", "/"}, envVar{"AMIH_SWAP", "0"})
		if res.code != 0 || !slices.Equal(res.targets("zero"), []string{"/"}) || len(res.kind("warn")) != 0 {
			t.Errorf("code %d, zeroed %v, warnings %v", res.code, res.targets("zero"), res.kind("warn"))
		}
	})
}

// TestScriptsFreeSpaceHuge (item 6): free space over 2 TiB is computed
// without awk's limits (mawk clamps printf "%d" at 2^31, busybox wraps): the
// fill's bound and the record say the real size.
func TestScriptsFreeSpaceHuge(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		freeSpaceGuest(g)
		// 3 TiB free in 4 KiB blocks.
		const blocks = 3 << 40 / 4096
		g.shim("stat", "printf '"+strconv.Itoa(blocks)+" 4096\\n'")
		g.shim("dd", `for a; do case $a in count=*) echo "${a#count=}" >>"$STATE/count" ;; esac; done`)
		res := g.run("free_space.sh", envVar{"AMIH_MODE", "zero"}, envVar{"AMIH_PATHS", "/"}, envVar{"AMIH_SWAP", "0"})
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		if z := res.kind("change"); len(z) != 1 || z[0].field(2) != "3145728 MiB free" {
			t.Errorf("zero record %v, want 3145728 MiB free", z)
		}
		counts, _ := os.ReadFile(filepath.Join(g.state, "count"))
		if first := strings.SplitN(string(counts), "\n", 2)[0]; first != "3145729" {
			t.Errorf("dd count %q, want 3145729 (MiB)", first)
		}
	})
}

// TestScriptsFreeSpaceInstanceStore: an instance-store disk (NVMe model, or
// cloud-init's ephemeral mount in fstab) is not in the image and is left
// out by default; listed in paths, it is cleared.
func TestScriptsFreeSpaceInstanceStore(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		freeSpaceGuest(g)
		g.file("proc/mounts", "/dev/nvme0n1p1 / ext4 rw 0 0\n/dev/nvme1n1 /mnt ext4 rw 0 0\n/dev/xvdb /media/ephemeral0 ext4 rw 0 0\n")
		g.dir("mnt")
		g.dir("media/ephemeral0")
		g.file("sys/class/block/nvme1n1/device/model", "Amazon EC2 NVMe Instance Storage        \n")
		g.file("etc/fstab", "LABEL=root / ext4 defaults 0 1\n/dev/xvdb /media/ephemeral0 auto defaults,nofail,x-systemd.requires=cloud-init.service,comment=cloudconfig 0 2\n")
		res := g.run("free_space.sh", envVar{"AMIH_MODE", "zero"}, envVar{"AMIH_PATHS", ""}, envVar{"AMIH_SWAP", "0"})
		if res.code != 0 || !slices.Equal(res.targets("zero"), []string{"/"}) {
			t.Errorf("code %d, zeroed %v, want / only", res.code, res.targets("zero"))
		}
		listed := g.run("free_space.sh", envVar{"AMIH_MODE", "zero"}, envVar{"AMIH_PATHS", "/mnt"}, envVar{"AMIH_SWAP", "0"})
		if !slices.Equal(listed.targets("zero"), []string{"/mnt"}) {
			t.Errorf("listed: zeroed %v, want /mnt", listed.targets("zero"))
		}
	})
}

// TestScriptsRemoveUserUidZeroAtShutdown: a listed user that has uid 0 by
// the time of the shutdown (passwd changed after the install) is neither
// removed nor has its home touched; the refusal is noted.
func TestScriptsRemoveUserUidZeroAtShutdown(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd+"toor:x:0:0::/root:/bin/sh\n")
		g.file("root/keep", "root's\n")
		userdelShim(g, false)
		res := shutdownPhase(g, "toor")
		if res.code != 0 || len(res.targets("remove-user")) != 0 || g.called("userdel") || g.read("root/keep") != "root's\n" {
			t.Errorf("code %d, removed %v, calls %v", res.code, res.targets("remove-user"), g.calls())
		}
		if !strings.Contains(g.read("var/lib/ami-hygiene/final-shutdown.failed"), "uid 0") {
			t.Errorf("the refusal was not noted")
		}
	})
}
