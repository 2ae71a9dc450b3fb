package provisioner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The clone-safe steps' scripts, under dash and busybox, against fake roots.

// read returns a file's content under the fake root ("<missing>" when absent).
func (g *guestTree) read(path string) string {
	data, err := os.ReadFile(filepath.Join(g.root, path))
	if err != nil {
		return "<missing>"
	}
	return string(data)
}

func identityTree(g *guestTree, systemd string) {
	g.shim("systemctl", `[ "$1" = --version ] && echo "systemd `+systemd+` (`+systemd+`.1)"`)
	g.shim("cloud-init", `[ "$1" = clean ] && rm -rf "$ROOT/var/lib/cloud/instances" "$ROOT/var/lib/cloud/instance" "$ROOT/var/lib/cloud/seed" "$ROOT/var/log/cloud-init.log"`)
	g.file("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
	g.file("var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n")
	g.file("var/lib/systemd/random-seed", "seed")
	g.file("var/lib/systemd/credential.secret", "secret")
	g.file("var/lib/dhcp/dhclient.eth0.leases", "lease {}")
	g.file("var/lib/NetworkManager/internal-x-eth0.lease", "lease")
	g.file("etc/udev/rules.d/70-persistent-net.rules", "rule")
	g.file("var/lib/cloud/instances/i-1/obj.pkl", "x")
	g.symlink("var/lib/cloud/instance", "/var/lib/cloud/instances/i-1")
	g.file("var/log/cloud-init.log", "log")
	g.file("etc/hostname", "build-host\n")
	for _, k := range []string{"ed25519", "rsa"} {
		g.file("etc/ssh/ssh_host_"+k+"_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
		g.file("etc/ssh/ssh_host_"+k+"_key.pub", "ssh-"+k+" AAAA\n")
	}
}

var hostKeys = []string{"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
	"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_rsa_key.pub"}

func identityEnv(extra ...envVar) []envVar {
	env := []envVar{{"AMIH_REMOVE_HOST_KEYS", "1"}, {"AMIH_ENSURE_HOST_KEYS", "0"}, {"AMIH_CLOUD_INIT_CLEAN", "1"}, {"AMIH_RESET_HOSTNAME", "0"}}
	return append(env, extra...)
}

func TestScriptsMachineIdentity(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		identityTree(g, "252")
		g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - seed_random\n - ssh\n - set_hostname\n")

		dry := g.run("machine_identity.sh", identityEnv(envVar{"AMIH_DRY_RUN", "1"})...)
		if dry.code != 0 || len(dry.targets("remove")) != 9 || g.read("etc/machine-id") == "uninitialized\n" || !g.exists(hostKeys[0]) || g.called("cloud-init clean") {
			t.Fatalf("dry run: code %d, would remove %v; machine-id %q\n%s", dry.code, dry.targets("remove"), g.read("etc/machine-id"), dry.other)
		}

		res := g.run("machine_identity.sh", identityEnv()...)
		if res.code != 0 {
			t.Fatalf("code %d: %v %s", res.code, res.kind("error"), res.other)
		}
		if got := g.read("etc/machine-id"); got != "uninitialized\n" {
			t.Errorf("machine-id %q", got)
		}
		if got := g.read("var/lib/dbus/machine-id"); got != "" {
			t.Errorf("dbus machine-id %q", got)
		}
		for _, p := range append([]string{"/var/lib/systemd/random-seed", "/var/lib/systemd/credential.secret",
			"/var/lib/dhcp/dhclient.eth0.leases", "/var/lib/NetworkManager/internal-x-eth0.lease",
			"/etc/udev/rules.d/70-persistent-net.rules", "/var/lib/cloud/instances"}, hostKeys...) {
			if g.exists(p) {
				t.Errorf("%s is still there", p)
			}
		}
		if !g.called("cloud-init clean --logs --seed") || g.read("etc/hostname") != "build-host\n" {
			t.Errorf("cloud-init clean not run, or hostname changed: %v %q", g.calls(), g.read("etc/hostname"))
		}
		if info := res.kind("info"); len(info) != 1 || !strings.Contains(info[0].field(0), "cloud-init's ssh module") {
			t.Errorf("info %v", info)
		}
		if again := g.run("machine_identity.sh", identityEnv()...); again.code != 0 || len(again.kind("change")) != 0 {
			t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
		}
	})
}

func TestScriptsMachineIdentityHostKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(g *guestTree)
		env     []envVar
		removed bool   // the host keys are gone
		want    string // in the info or the error
	}{
		{"nothing regenerates them", func(g *guestTree) {}, nil, false, "ensure_host_keys = true"},
		{"cloud-init without key types", func(g *guestTree) {
			g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - ssh\n")
			g.file("etc/cloud/cloud.cfg.d/99-keys.cfg", "ssh_genkeytypes: []\n")
		}, nil, false, "nothing on this image would generate SSH host keys"},
		{"cloud-init disabled", func(g *guestTree) {
			g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - ssh\n")
			g.file("etc/cloud/cloud-init.disabled", "")
		}, nil, false, "nothing on this image"},
		{"sshd-keygen unit", func(g *guestTree) { g.file("usr/lib/systemd/system/sshd-keygen@.service", "[Unit]\n") }, nil, true, "/usr/lib/systemd/system/sshd-keygen@.service"},
		{"ssh-keygen in the OpenRC script", func(g *guestTree) { g.file("etc/init.d/sshd", "ssh-keygen -A\n") }, nil, true, "/etc/init.d/sshd"},
		{"ensure_host_keys", func(g *guestTree) { g.shim("ssh-keygen", "exit 0") }, []envVar{{"AMIH_ENSURE_HOST_KEYS", "1"}}, true, "ensure_host_keys"},
		{"kept on request", func(g *guestTree) {}, []envVar{{"AMIH_REMOVE_HOST_KEYS", "0"}}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				identityTree(g, "252")
				tc.setup(g)
				res := g.run("machine_identity.sh", identityEnv(tc.env...)...)
				text := res.other
				for _, r := range append(res.kind("info"), res.kind("error")...) {
					text += r.field(0) + "\n"
				}
				if g.exists(hostKeys[0]) == tc.removed || (res.code == 0) != (tc.removed || tc.want == "") || !strings.Contains(text, tc.want) {
					t.Fatalf("code %d, host key present %v:\n%s", res.code, g.exists(hostKeys[0]), text)
				}
				// Removed host keys forbid a reboot in the rest of the build.
				if g.exists("run/ami-hygiene/no-reconnect") != tc.removed {
					t.Errorf("no-reconnect note present %v, want %v", g.exists("run/ami-hygiene/no-reconnect"), tc.removed)
				}
				if tc.name == "ensure_host_keys" {
					unit := g.read("etc/systemd/system/ami-hygiene-ssh-host-keys.service")
					if !strings.Contains(unit, "ExecStart="+filepath.Join(g.bin, "ssh-keygen")+" -A") || !strings.Contains(unit, "ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key") ||
						!g.exists("etc/systemd/system/multi-user.target.wants/ami-hygiene-ssh-host-keys.service") {
						t.Errorf("first-boot unit:\n%s", unit)
					}
				}
			})
		})
	}
}

func TestScriptsMachineIdentityOldSystemd(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		identityTree(g, "219")
		res := g.run("machine_identity.sh", identityEnv(envVar{"AMIH_REMOVE_HOST_KEYS", "0"}, envVar{"AMIH_RESET_HOSTNAME", "1"})...)
		if res.code != 0 || g.read("etc/machine-id") != "" || g.read("etc/hostname") != "localhost\n" || !g.exists(hostKeys[0]) {
			t.Errorf("code %d, machine-id %q, hostname %q\n%s", res.code, g.read("etc/machine-id"), g.read("etc/hostname"), res.other)
		}
	})
}

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
		for _, p := range rotated {
			if g.exists(p) {
				t.Errorf("%s not removed", p)
			}
		}
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

func TestScriptsCaches(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		removed := []string{"/tmp/script_123.sh", "/tmp/.hidden", "/tmp/build", "/var/tmp/cache.bin",
			"/var/cache/apt/archives/openssl_3.0.deb", "/var/cache/apt/archives/partial/x.deb", "/var/cache/apt/pkgcache.bin",
			"/var/cache/dnf/updates", "/var/crash/core.1", "/etc/passwd-", "/etc/shadow-", "/etc/gshadow-"}
		kept := []string{"/tmp/systemd-private-abc-chronyd.service-x/tmp/f", "/tmp/.X11-unix/X0", "/var/tmp/keep-me/data",
			"/var/cache/apt/archives/lock", "/etc/passwd", "/var/lib/apt/lists/deb.debian.org_Release", "/var/cache/man/index.db"}
		for _, p := range removed {
			if p == "/tmp/build" || p == "/var/cache/dnf/updates" {
				g.file(p+"/inner", "x")
				continue
			}
			g.file(p, "x")
		}
		for _, p := range kept {
			g.file(p, "x")
		}
		// A filesystem mounted under /tmp: rm -rf would cross into it.
		g.file("/tmp/mnt/disk/data", "on another filesystem")
		kept = append(kept, "/tmp/mnt/disk/data")
		g.file("proc/mounts", "/dev/vda / ext4 rw 0 0\n/dev/vdb /tmp/mnt/disk ext4 rw 0 0\n")
		env := []envVar{{"AMIH_EXCLUDE", "/var/tmp/keep-me"}, {"AMIH_PACKAGE_LISTS", "0"}}
		want := make([]string, len(removed))
		for i, p := range removed {
			want[i] = p
			if p == "/tmp/build" || p == "/var/cache/dnf/updates" {
				want[i] += "/"
			}
		}
		res := g.run("caches.sh", env...)
		if res.code != 0 || !equal(res.targets("remove"), sorted(want...)) {
			t.Fatalf("code %d, removed %v, want %v\n%s", res.code, res.targets("remove"), sorted(want...), res.other)
		}
		if w := res.kind("warn"); len(w) != 1 || !strings.Contains(w[0].field(0), "/tmp/mnt alone: a filesystem is mounted in it") {
			t.Errorf("warnings %v", w)
		}
		for _, p := range removed {
			if g.exists(p) {
				t.Errorf("%s is still there", p)
			}
		}
		for _, p := range kept {
			if !g.exists(p) {
				t.Errorf("%s was removed", p)
			}
		}
		if again := g.run("caches.sh", env...); len(again.kind("change")) != 0 {
			t.Errorf("second run changed %v", again.kind("change"))
		}
		lists := g.run("caches.sh", envVar{"AMIH_PACKAGE_LISTS", "1"})
		if !equal(lists.targets("remove"), []string{"/var/lib/apt/lists/deb.debian.org_Release", "/var/tmp/keep-me/"}) {
			t.Errorf("remove_package_lists: %v", lists.targets("remove"))
		}
	})
}

const shadow = `root:$6$salt$hash:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
admin:!:19000:0:99999:7:::
alice::19000:0:99999:7:::
`

func accessTree(g *guestTree, sshdConfig string) {
	g.file("etc/shadow", shadow)
	g.file("etc/ssh/sshd_config", sshdConfig)
	g.shim("usermod", `[ "$1 $2" = "-L --" ] || exit 2
awk -F: -v OFS=: -v u="$3" '$1 == u && $2 !~ /^!/ { $2 = "!" $2 } { print }' "$ROOT/etc/shadow" >"$STATE/shadow" && cat "$STATE/shadow" >"$ROOT/etc/shadow"`)
}

var accessEnv = []envVar{{"AMIH_LOCK_ROOT", "1"}, {"AMIH_LOCK_EMPTY", "1"}, {"AMIH_SSHD", "1"}, {"AMIH_PERMIT_ROOT_LOGIN", "prohibit-password"}}

func TestScriptsAccessPolicy(t *testing.T) {
	settings := "PasswordAuthentication no\nPermitEmptyPasswords no\nPermitRootLogin prohibit-password\n"
	for _, tc := range []struct {
		name, config, target, want string
	}{
		{"drop-in", "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\n", "/etc/ssh/sshd_config.d/00-ami-hygiene.conf", "# Written by packer-plugin-ami-hygiene (access_policy): no password logins.\n" + settings},
		{"no include", "PasswordAuthentication yes\nMatch User x\n  X11Forwarding no\n", "/etc/ssh/sshd_config",
			"# BEGIN ami-hygiene (access_policy): sshd takes the first value it reads\n" + settings + "# END ami-hygiene\nPasswordAuthentication yes\nMatch User x\n  X11Forwarding no\n"},
		{"include after a setting", "Port 22\nInclude /etc/ssh/sshd_config.d/*.conf\n", "/etc/ssh/sshd_config", "# BEGIN ami-hygiene"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				accessTree(g, tc.config)
				dry := g.run("access_policy.sh", append(accessEnv, envVar{"AMIH_DRY_RUN", "1"})...)
				if dry.code != 0 || !equal(dry.targets("lock"), []string{"alice", "root"}) || g.read("etc/shadow") != shadow || g.read("etc/ssh/sshd_config") != tc.config {
					t.Fatalf("dry run: code %d, locks %v\n%s", dry.code, dry.targets("lock"), dry.other)
				}
				res := g.run("access_policy.sh", accessEnv...)
				if res.code != 0 || !equal(res.targets("lock"), []string{"alice", "root"}) || !equal(res.targets("write"), []string{tc.target}) {
					t.Fatalf("code %d, locks %v, writes %v\n%s %v", res.code, res.targets("lock"), res.targets("write"), res.other, res.kind("error"))
				}
				if got := g.read(tc.target); !strings.HasPrefix(got, tc.want) {
					t.Errorf("%s:\n%s", tc.target, got)
				}
				if got := g.read("etc/shadow"); !strings.Contains(got, "root:!$6$salt") || !strings.Contains(got, "alice:!:") || !strings.Contains(got, "daemon:*:") {
					t.Errorf("shadow:\n%s", got)
				}
				if again := g.run("access_policy.sh", accessEnv...); again.code != 0 || len(again.kind("change")) != 0 {
					t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
				}
			})
		})
	}
}

// A secret that must never appear in any output.
const plantedSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

func TestScriptsSecretScan(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("opt/app/.deploy/settings.ini", "[aws]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = "+plantedSecret+"\n")
		g.file("srv/data/backup/id", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
		g.file("etc/ci/token", "GITHUB_TOKEN=ghp_"+strings.Repeat("a1B2", 9)+"\n")
		g.file("home/admin/notes", "slack: xoxb-1234567890-abcdefghij\n")
		g.file("etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
		g.file("opt/vendor/test/key.pem", "-----BEGIN RSA PRIVATE KEY-----\n")
		g.file("opt/big/dump.sql", strings.Repeat("x", 5000)+"AKIAIOSFODNN7EXAMPLE\n")
		// Lookalikes that are not secrets.
		g.file("etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\n")
		g.file("opt/app/README", "Set AKIA followed by your key id; see aws_secret_access_key in the docs.\n")
		g.file("home/admin/.ssh/id_ed25519.pub", "ssh-ed25519 AAAAC3Nza admin\n")
		set := &SecretScan{Allow: []string{"/opt/vendor/test/*"}, MaxFileSize: "4k"}
		v := &validator{}
		set.prepare(v, "secret_scan")
		if v.err() != nil {
			t.Fatal(v.err())
		}
		res := g.run("secret_scan.sh", set.env()...)
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		var got []string
		for _, f := range res.kind("finding") {
			got = append(got, f.field(1)+" "+f.field(0))
		}
		want := sorted("/opt/app/.deploy/settings.ini aws-access-key-id,aws-secret-access-key", "/srv/data/backup/id private-key",
			"/etc/ci/token github-token", "/home/admin/notes slack-token")
		if !equal(sorted(got...), want) {
			t.Errorf("findings %v, want %v", sorted(got...), want)
		}
		if n, _ := res.count("allowed"); n != "1" {
			t.Errorf("allowed %s", n)
		}
		if w := res.kind("warn"); len(w) != 1 || !strings.Contains(w[0].field(0), "/etc/ssh/ssh_host_ed25519_key") {
			t.Errorf("warnings %v", w)
		}
		all := res.other
		for _, r := range res.records {
			all += strings.Join(r.Fields, " ")
		}
		if strings.Contains(all, plantedSecret) || strings.Contains(all, "AKIAIOSFODNN7EXAMPLE") || strings.Contains(all, "b3BlbnNzaC1rZXkt") {
			t.Errorf("the output shows a secret:\n%s", all)
		}
	})
}

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
		if res.code != 0 || !equal(sorted(got...), want) {
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
