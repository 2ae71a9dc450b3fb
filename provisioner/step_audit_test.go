package provisioner

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func TestScriptsAudit(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/shadow", shadow)
		g.file("etc/machine-id", "uninitialized\n")
		g.file("etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n")
		g.file("etc/ssh/ssh_host_rsa_key", "key")
		g.file("root/.ssh/authorized_keys", "ssh-ed25519 AAAA")
		g.file("home/alice/.zsh_history", "ls")
		g.file("home/admin/.ssh/id_rsa", "-----BEGIN RSA PRIVATE KEY-----\n")
		g.file("home/admin/.aws/credentials", "[default]\n")
		g.file("home/admin/.docker/config.json", `{"credsStore":"pass"}`) // no credentials in it
		g.dir("run/systemd/system")
		g.shim("systemctl", `[ "$1 $2" = "is-active --quiet" ] && [ "$4" = nginx ]`)
		postfixShims(g, "2")
		env := []envVar{{"AMIH_SERVICES", "nginx\nmyapp"}, {"AMIH_SKIP_CHECKS", ""}}

		res := g.run("audit.sh", env...)
		var got []string
		for _, f := range res.kind("finding") {
			got = append(got, f.field(0)+" "+f.field(1))
		}
		want := sorted("authorized_keys /root/.ssh/authorized_keys", "shell_history /home/alice/.zsh_history",
			"host_keys /etc/ssh/ssh_host_rsa_key", "password_authentication sshd", "root_password root",
			"empty_password alice", "private_keys /home/admin/.ssh/id_rsa", "credentials /home/admin/.aws/credentials",
			"mail_queue postfix", "services nginx")
		if res.code != 0 || !slices.Equal(sorted(got...), want) {
			t.Errorf("code %d, findings\n%v\nwant\n%v\n%s", res.code, sorted(got...), want, res.other)
		}
		if len(res.kind("change")) != 0 {
			t.Errorf("the audit changed something: %v", res.kind("change"))
		}

		skipped := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", strings.Join(auditChecks, "\n")})
		if len(skipped.kind("finding")) != 0 {
			t.Errorf("skip_checks ignored: %v", skipped.kind("finding"))
		}

		g.file("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
		live := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", "authorized_keys"})
		got = nil
		for _, f := range live.kind("finding") {
			got = append(got, f.field(0))
		}
		if !slices.Contains(got, "machine_id") || slices.Contains(got, "host_keys") || slices.Contains(got, "authorized_keys") {
			t.Errorf("a set machine id: findings %v", got)
		}
	})
}

// findingPaths lists a run's findings as "CHECK PATH".
func findingPaths(r scriptRun) []string {
	var out []string
	for _, f := range r.kind("finding") {
		out = append(out, f.field(0)+" "+f.field(1))
	}
	return sorted(out...)
}

// TestScriptsAuditWholeImage (issue 23): the audit finds key files,
// histories, private keys and credentials wherever they are on the image's
// local filesystems — in folders no cleaning step visits, in a home passwd
// no longer names, behind a linked home — and names each path; an empty key
// file, the keys of keep_users, a history on a tmpfs and what lies on
// another filesystem's mount point are not findings there (the other
// filesystem is searched on its own). On the old code only passwd homes
// were looked at.
func TestScriptsAuditWholeImage(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd+"carol:x:1002:1002::/home/carol:/bin/bash\n")
		g.file("etc/machine-id", "uninitialized\n")
		g.file("proc/mounts", "/dev/vda1 / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\ntmpfs /scratch tmpfs rw 0 0\n/dev/vdb1 /data ext4 rw 0 0\n")
		g.file("opt/x/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nza stray@key\n")
		g.file("opt/empty/.ssh/authorized_keys", "# no key\n\n")
		g.file("srv/y/.bash_history", "export TOKEN=1\n")
		g.file("home/olduser/.bash_history", "ls\n")
		g.file("home/olduser/.ssh/authorized_keys", "ssh-rsa AAAAB3 old@user\n")
		g.file("data/home/carol/.aws/credentials", "[default]\n")
		g.symlink("home/carol", filepath.Join(g.root, "data/home/carol"))
		g.file("data/backup/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
		g.file("scratch/.bash_history", "on a tmpfs\n")
		g.file("home/admin/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nzb admin@ops\n")
		res := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", "password_authentication\nmail_queue\nroot_password\nempty_password"}, envVar{"AMIH_KEEP_USERS", "admin"})
		want := sorted("authorized_keys /opt/x/.ssh/authorized_keys", "authorized_keys /home/olduser/.ssh/authorized_keys",
			"shell_history /srv/y/.bash_history", "shell_history /home/olduser/.bash_history",
			"credentials /data/home/carol/.aws/credentials", "private_keys /data/backup/.ssh/id_ed25519")
		if got := findingPaths(res); !slices.Equal(got, want) {
			t.Errorf("findings\n%v\nwant\n%v\n%s", got, want, res.other)
		}
	})
}

// TestScriptsAuditSearchNames (issue 23): the whole-image search judges the
// names find passed it: credentials under a credential folder anywhere
// (.config/gcloud, .aws), a key file in a folder whose name holds a newline,
// histories by every .*history name; the dot files that count for nothing
// are no finding, /proc and /sys are not searched, and a credential name
// that is a FIFO or a link to one is never read (the audit would hang; a
// link in a home is named, as the credentials step removes it).
func TestScriptsAuditSearchNames(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/machine-id", "uninitialized\n")
		g.file("opt/ci/.config/gcloud/credentials.db", "sqlite")
		g.file("opt/ci/.aws/sso/cache/token.json", "{}")
		g.file("opt/ci/.docker/config.json", `{"auths": {"registry": {"auth": "dXNlcjpwYXNz"}}}`)
		g.file("opt/ci/.npmrc.d/.npmrc", "color=false\n")
		g.file("var/tmp/odd\nname/authorized_keys", "ssh-ed25519 AAAAC3Nzc odd@name\n")
		g.file("var/lib/app/.python_history", "import os\n")
		// Every other history name of the search (issue 36: none had a case).
		g.file("opt/fish/fish_history", "- cmd: ls\n")
		g.file("srv/pager/.lesshst", ".less-history-file:\n")
		g.file("var/lib/editor/.viminfo", "# viminfo\n")
		g.file("opt/dl/.wget-hsts", "# HSTS\n")
		g.file("usr/lib/python3/.keep", "")
		g.file("usr/share/doc/.gitignore", "*.o\n")
		g.file("etc/skel/.bashrc", "# bash\n")
		g.file("proc/1/root/.bash_history", "not the image\n")
		g.file("sys/fs/.bash_history", "not the image\n")
		g.dir("srv/pipes")
		if err := syscall.Mkfifo(filepath.Join(g.root, "srv/pipes/.npmrc"), 0o644); err != nil {
			t.Fatal(err)
		}
		g.symlink("srv/pipes/.pypirc", filepath.Join(g.root, "srv/pipes/.npmrc"))
		g.symlink("root/.npmrc", filepath.Join(g.root, "srv/pipes/.npmrc"))
		res := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", "password_authentication\nmail_queue\nroot_password\nempty_password"})
		want := sorted("credentials /opt/ci/.config/gcloud/credentials.db", "credentials /opt/ci/.aws/sso/cache/",
			"credentials /opt/ci/.docker/config.json", "authorized_keys /var/tmp/odd\nname/authorized_keys",
			"shell_history /var/lib/app/.python_history", "credentials /root/.npmrc",
			"shell_history /opt/fish/fish_history", "shell_history /srv/pager/.lesshst",
			"shell_history /var/lib/editor/.viminfo", "shell_history /opt/dl/.wget-hsts")
		if got := findingPaths(res); !slices.Equal(got, want) {
			t.Errorf("findings\n%q\nwant\n%q\n%s", got, want, res.other)
		}
		if !strings.Contains(res.text("info"), "searched the whole image") {
			t.Errorf("no word of the search: %v", res.kind("info"))
		}
	})
}

// TestScriptsLinkedAndOrphanHomes (issue 23): a passwd home that is a link
// to a folder the user owns is cleaned there; one that leads to another
// user's folder or to / is left alone, and the step says so; a folder under
// /home whose user passwd no longer names is cleaned like any home. Every
// other file of those homes stays. On the old code none was cleaned.
func TestScriptsLinkedAndOrphanHomes(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd+"carol:x:1002:1002::/home/carol:/bin/bash\ndave:x:1003:1003::/home/dave:/bin/bash\neve:x:1004:1004::/home/eve:/bin/bash\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n")
		// A merged /usr: bin's home is a link to a system folder (no warning).
		g.dir("usr/bin")
		g.symlink("bin", filepath.Join(g.root, "usr/bin"))
		g.file("data/home/carol/.bash_history", "carol's\n")
		g.file("data/home/carol/notes.txt", "keep\n")
		g.chownTree("data/home/carol", 1002)
		// Links name the guest's paths as the fake root holds them.
		g.symlink("home/carol", filepath.Join(g.root, "data/home/carol"))
		g.file("srv/shared/.bash_history", "not dave's\n")
		g.symlink("home/dave", filepath.Join(g.root, "srv/shared"))
		g.symlink("home/eve", g.root)
		g.file("home/olduser/.bash_history", "old\n")
		g.file("home/olduser/project/README", "keep\n")
		res := g.run("shell_history.sh", envVar{"AMIH_EXTRA_PATTERNS", ""})
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		g.allGone([]string{"data/home/carol/.bash_history", "home/olduser/.bash_history"})
		g.allKept([]string{"data/home/carol/notes.txt", "home/olduser/project/README", "srv/shared/.bash_history"})
		var warns string
		for _, w := range res.kind("warn") {
			warns += w.field(0) + "\n"
		}
		if strings.Contains(warns, "home of bin") {
			t.Errorf("a system account's linked home was warned about:\n%s", warns)
		}
		for _, want := range []string{"left the home of dave alone: /home/dave links to /srv/shared, a folder dave does not own", "left the home of eve alone: /home/eve is a link that leads to / or out of the image"} {
			if !strings.Contains(warns, want) {
				t.Errorf("no warning %q in\n%s", want, warns)
			}
		}
	})
}

// TestScriptsAuditAllow (issue 36, item 2): a path matched by audit.allow
// is no finding but is listed as allowed (never silently), the other
// checks still find what they find, a pattern that matched nothing is a
// warning (a stale exception), and a target that is not a path (a user, a
// service) is never allowed by a path pattern.
func TestScriptsAuditAllow(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/shadow", shadow)
		g.file("etc/machine-id", "uninitialized\n")
		g.file("proc/mounts", "/dev/vda1 / ext4 rw 0 0\n")
		g.file("opt/app/testdata/.bash_history", "fixture\n")
		g.file("opt/app/testdata/deep/fish_history", "- cmd: ls\n")
		g.file("srv/y/.bash_history", "export TOKEN=1\n")
		g.file("root/.ssh/authorized_keys", "ssh-ed25519 AAAA root@x\n")
		skip := envVar{"AMIH_SKIP_CHECKS", "password_authentication\nmail_queue\nroot_password"}
		res := g.run("audit.sh", skip, envVar{"AMIH_ALLOW", "/opt/app/testdata/*\n/srv/gone/*\nalice"})
		want := sorted("authorized_keys /root/.ssh/authorized_keys", "shell_history /srv/y/.bash_history", "empty_password alice")
		if got := findingPaths(res); res.code != 0 || !slices.Equal(got, want) {
			t.Errorf("code %d, findings\n%q\nwant\n%q\n%s", res.code, got, want, res.other)
		}
		info := res.text("info")
		for _, p := range []string{"allowed by audit.allow: shell_history /opt/app/testdata/.bash_history", "allowed by audit.allow: shell_history /opt/app/testdata/deep/fish_history"} {
			if !strings.Contains(info, p) {
				t.Errorf("not listed as allowed: %q\n%s", p, info)
			}
		}
		warns := res.text("warn")
		if !strings.Contains(warns, `audit.allow "/srv/gone/*" matched nothing`) || !strings.Contains(warns, `audit.allow "alice" matched nothing`) {
			t.Errorf("no warning of the stale patterns:\n%s", warns)
		}
		if strings.Contains(warns, "/opt/app/testdata") {
			t.Errorf("a used pattern was called stale:\n%s", warns)
		}
		if n, _ := res.count("allowed"); n != "2" {
			t.Errorf("count allowed = %q, want 2", n)
		}
	})
}

// TestLoopAuditBtrfsSubvolumes (issue 36, item 11): on Fedora Cloud's
// layout (subvolumes root and home of one btrfs device, mounted on / and
// /home) the audit searches /home too, and a nested subvolume that is no
// mount point (/var/lib/machines) as well; a bind mount of a folder of an
// ext4-like tree already searched adds nothing twice. On the old code
// /home was dropped as "a device seen" and find -xdev stopped at the nested
// subvolume: the report said clean. A real btrfs image, loop-mounted.
func TestLoopAuditBtrfsSubvolumes(t *testing.T) {
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Fatal("mkfs.btrfs is missing (make e2e-deps installs btrfs-progs)")
	}
	forEachShell(t, func(t *testing.T, g *guestTree) {
		device := btrfsImage(g, []string{"root", "home", "root/var/lib/machines"}, map[string]string{"root": "", "home": "home"})
		g.file("etc/passwd", passwd)
		g.file("etc/machine-id", "uninitialized\n")
		g.file("home/alice/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nzd alice@laptop\n")
		g.file("home/alice/.bash_history", "sudo cat /etc/shadow\n")
		g.file("home/srv-copy/.ssh/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
		// Deeper than any home check looks: only the whole-image search
		// finds these.
		g.file("home/alice/projects/app/.bash_history", "export TOKEN=1\n")
		g.file("home/alice/backup/.ssh/authorized_keys", "ssh-rsa AAAAB3Nza old@backup\n")
		g.file("var/lib/machines/c1/root/.bash_history", "in a nested subvolume\n")
		g.file("proc/mounts", device+" / btrfs rw,relatime,subvolid=256,subvol=/root 0 0\n"+
			device+" /home btrfs rw,relatime,subvolid=257,subvol=/home 0 0\ntmpfs /run tmpfs rw 0 0\n")
		res := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", "password_authentication\nmail_queue\nroot_password\nempty_password"})
		want := sorted("authorized_keys /home/alice/.ssh/authorized_keys", "shell_history /home/alice/.bash_history",
			"private_keys /home/srv-copy/.ssh/id_ed25519", "shell_history /var/lib/machines/c1/root/.bash_history",
			"shell_history /home/alice/projects/app/.bash_history", "authorized_keys /home/alice/backup/.ssh/authorized_keys")
		if got := findingPaths(res); res.code != 0 || !slices.Equal(got, want) {
			t.Errorf("code %d, findings\n%q\nwant\n%q\n%s", res.code, got, want, res.other)
		}
		if !strings.Contains(res.text("info"), "3 filesystem(s)") {
			t.Errorf("want 3 trees searched (/, /home, /var/lib/machines): %q", res.text("info"))
		}
	})
}

// TestScriptsAuditBindMounts (issue 36, item 11): a bind mount of a folder
// of a tree already searched is not searched again (one finding a file),
// and a bind mount of a folder no other mount shows is (mountinfo's root).
func TestScriptsAuditBindMounts(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/machine-id", "uninitialized\n")
		g.file("srv/data/.bash_history", "once\n")
		g.file("mnt/data/.bash_history", "the bind mount's view of /srv/data\n")
		g.file("mnt/other/.bash_history", "a folder of vdb1 no other mount shows\n")
		g.file("proc/mounts", "/dev/vda1 / ext4 rw 0 0\n/dev/vda1 /mnt/data ext4 rw 0 0\n/dev/vdb1 /mnt/other ext4 rw 0 0\n/dev/vdb1 /mnt/vdb ext4 rw 0 0\n")
		g.file("proc/self/mountinfo", "20 1 254:1 / / rw - ext4 /dev/vda1 rw\n21 20 254:1 /srv/data /mnt/data rw - ext4 /dev/vda1 rw\n"+
			"22 20 254:17 /private /mnt/other rw - ext4 /dev/vdb1 rw\n23 20 254:17 /public /mnt/vdb rw - ext4 /dev/vdb1 rw\n")
		res := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", "password_authentication\nmail_queue\nroot_password\nempty_password"})
		want := sorted("shell_history /srv/data/.bash_history", "shell_history /mnt/other/.bash_history")
		if got := findingPaths(res); res.code != 0 || !slices.Equal(got, want) {
			t.Errorf("code %d, findings\n%q\nwant\n%q\n%s", res.code, got, want, res.other)
		}
	})
}

// TestScriptsAuditLongPaths (issue 36, item 11): a history and a key file
// whose paths are longer than PATH_MAX (find lists them; [ -f ] fails with
// ENAMETOOLONG) are judged from their own folder, never dropped.
func TestScriptsAuditLongPaths(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/machine-id", "uninitialized\n")
		g.dir("opt/deep")
		name := strings.Repeat("d", 200)
		// 22 folders of 200 bytes: 4,400 bytes and more.
		script := `cd "$1" && for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22; do mkdir "$2" && cd -P "./$2" || exit 1; done; ` +
			`printf 'ls\n' >.bash_history && mkdir .ssh && printf 'ssh-ed25519 AAAAC3Nze deep@key\n' >.ssh/authorized_keys`
		if out, err := exec.Command("sh", "-c", script, "sh", filepath.Join(g.root, "opt/deep"), name).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		long := "/opt/deep" + strings.Repeat("/"+name, 22)
		// busybox's own find cannot list such a path at all ("File name
		// too long"): the shell's side is tested under busybox ash with
		// GNU find, which lists it (a busybox guest's find is a limit of
		// its own, said in the docs).
		g.hostTool("find")
		res := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", "password_authentication\nmail_queue\nroot_password\nempty_password"})
		want := sorted("shell_history "+long+"/.bash_history", "authorized_keys "+long+"/.ssh/authorized_keys")
		if got := findingPaths(res); res.code != 0 || !slices.Equal(got, want) {
			t.Errorf("code %d, %d findings, want the 2 long paths\n%s", res.code, len(got), res.other)
		}
	})
}
