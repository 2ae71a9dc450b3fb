package provisioner

import (
	"slices"
	"strings"
	"testing"
)

func accessTree(g *guestTree, sshdConfig string) {
	g.file("etc/shadow", shadow)
	g.file("etc/ssh/sshd_config", sshdConfig)
	g.shim("usermod", `[ "$1 $2" = "-L --" ] || exit 2
awk -F: -v OFS=: -v u="$3" '$1 == u && $2 !~ /^!/ { $2 = "!" $2 } { print }' "$ROOT/etc/shadow" >"$STATE/shadow" && cat "$STATE/shadow" >"$ROOT/etc/shadow"`)
}

func TestScriptsAccessPolicy(t *testing.T) {
	settings := "PasswordAuthentication no\nPermitEmptyPasswords no\nPermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\n"
	for _, tc := range []struct {
		name, config, target, want string
	}{
		{"drop-in", "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\n", "/etc/ssh/sshd_config.d/00-ami-hygiene.conf", "# Written by packer-plugin-ami-hygiene (access_policy): no password logins.\n" + settings},
		{"no include", "PasswordAuthentication yes\nMatch User x\n  X11Forwarding no\n", "/etc/ssh/sshd_config",
			"# BEGIN ami-hygiene (access_policy): sshd takes the first value it reads\n" + settings + "# END ami-hygiene\nPasswordAuthentication yes\nMatch User x\n  X11Forwarding no\n"},
		{"include after a setting", "Port 22\nInclude /etc/ssh/sshd_config.d/*.conf\n", "/etc/ssh/sshd_config", "# BEGIN ami-hygiene"},
		// Issue 16, item 7: a stricter policy of the image is never weakened.
		{"stricter PermitRootLogin kept", "PermitRootLogin no\nPasswordAuthentication yes\n", "/etc/ssh/sshd_config",
			"# BEGIN ami-hygiene (access_policy): sshd takes the first value it reads\nPasswordAuthentication no\nPermitEmptyPasswords no\nPermitRootLogin no\nKbdInteractiveAuthentication no\n# END ami-hygiene\nPermitRootLogin no\n"},
		// Keyboard-interactive as a second factor is left alone.
		{"keyboard-interactive second factor", "AuthenticationMethods publickey,keyboard-interactive\nPasswordAuthentication yes\n", "/etc/ssh/sshd_config",
			"# BEGIN ami-hygiene (access_policy): sshd takes the first value it reads\nPasswordAuthentication no\nPermitEmptyPasswords no\nPermitRootLogin prohibit-password\n# END ami-hygiene\n"},
		{"stricter PermitRootLogin in a drop-in kept", "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n", "/etc/ssh/sshd_config.d/00-ami-hygiene.conf",
			"# Written by packer-plugin-ami-hygiene (access_policy): no password logins.\nPasswordAuthentication no\nPermitEmptyPasswords no\nPermitRootLogin forced-commands-only\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				accessTree(g, tc.config)
				if tc.name == "stricter PermitRootLogin in a drop-in kept" {
					g.file("etc/ssh/sshd_config.d/50-cloud.conf", "PermitRootLogin forced-commands-only\n")
				}
				dry := g.run("access_policy.sh", append(accessEnv, envVar{"AMIH_DRY_RUN", "1"})...)
				if dry.code != 0 || !slices.Equal(dry.targets("lock"), []string{"alice", "root"}) || g.read("etc/shadow") != shadow || g.read("etc/ssh/sshd_config") != tc.config {
					t.Fatalf("dry run: code %d, locks %v\n%s", dry.code, dry.targets("lock"), dry.other)
				}
				res := g.run("access_policy.sh", accessEnv...)
				if res.code != 0 || !slices.Equal(res.targets("lock"), []string{"alice", "root"}) || !slices.Equal(res.targets("write"), []string{tc.target}) {
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

var accessEnv = []envVar{{"AMIH_LOCK_ROOT", "1"}, {"AMIH_LOCK_EMPTY", "1"}, {"AMIH_SSHD", "1"}, {"AMIH_PERMIT_ROOT_LOGIN", "prohibit-password"}}

// Issue 16, item 9: where sshd has no PAM (Alpine), an account locked with
// "!" refuses key logins too: the password becomes "*" instead.
func TestScriptsAccessPolicyWithoutPAM(t *testing.T) {
	for _, tc := range []struct {
		name, sshdT, want string
	}{
		{"sshd built without PAM", "passwordauthentication no\npermitrootlogin prohibit-password\n", "root:*:"},
		{"UsePAM no", "usepam no\npasswordauthentication no\n", "root:*:"},
		{"UsePAM yes", "usepam yes\npasswordauthentication no\n", "root:!$6$salt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				accessTree(g, "PasswordAuthentication yes\n")
				g.shim("sshd", `[ "$1" = -T ] && printf '`+strings.ReplaceAll(tc.sshdT, "\n", `\n`)+`'`)
				g.shim("ssh-keygen", "exit 0")
				g.shim("usermod", `case "$1" in
-L) awk -F: -v OFS=: -v u="$3" '$1 == u && $2 !~ /^!/ { $2 = "!" $2 } { print }' "$ROOT/etc/shadow" >"$STATE/shadow" ;;
-p) awk -F: -v OFS=: -v p="$2" -v u="$4" '$1 == u { $2 = p } { print }' "$ROOT/etc/shadow" >"$STATE/shadow" ;;
*) exit 2 ;;
esac && cat "$STATE/shadow" >"$ROOT/etc/shadow"`)
				res := g.run("access_policy.sh", accessEnv...)
				if res.code != 0 || !strings.Contains(g.read("etc/shadow"), tc.want) {
					t.Errorf("code %d, shadow:\n%s\n%v", res.code, g.read("etc/shadow"), res.kind("error"))
				}
			})
		})
	}
}

// Issue 16, item 8: openSUSE Tumbleweed and SLE 16 ship only
// /usr/etc/ssh/sshd_config (the UsrEtc layout); the fixture holds the lines
// that matter, not a copy of their file.
func TestScriptsAccessPolicyVendorConfig(t *testing.T) {
	for _, tc := range []struct {
		name, vendor, target string
	}{
		{"vendor file includes the drop-ins", "Include /etc/ssh/sshd_config.d/*.conf\nInclude /usr/etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n", "/etc/ssh/sshd_config.d/00-ami-hygiene.conf"},
		{"vendor file without drop-ins", "UsePAM yes\nPasswordAuthentication yes\n", "/etc/ssh/sshd_config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				g.file("etc/shadow", shadow)
				g.file("usr/etc/ssh/sshd_config", tc.vendor)
				res := g.run("access_policy.sh", append(accessEnv, envVar{"AMIH_LOCK_ROOT", "0"}, envVar{"AMIH_LOCK_EMPTY", "0"})...)
				if res.code != 0 || !slices.Equal(res.targets("write"), []string{tc.target}) {
					t.Fatalf("code %d, writes %v, info %v", res.code, res.targets("write"), res.kind("info"))
				}
				if got := g.read(tc.target); !strings.Contains(got, "PasswordAuthentication no\nPermitEmptyPasswords no\nPermitRootLogin prohibit-password\n") {
					t.Errorf("%s:\n%s", tc.target, got)
				}
				if g.read("usr/etc/ssh/sshd_config") != tc.vendor {
					t.Errorf("the vendor file was changed")
				}
				if tc.target == "/etc/ssh/sshd_config" && !strings.HasSuffix(g.read(tc.target), tc.vendor) {
					t.Errorf("/etc/ssh/sshd_config does not carry the vendor settings:\n%s", g.read(tc.target))
				}
			})
		})
	}
}
