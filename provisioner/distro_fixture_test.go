package provisioner

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The distributions that cannot boot here, as fixtures: the files of each
// that decide what the steps do (sshd's configuration and units, the host-key
// generators, cloud-init's configuration), under testdata/distros/NAME.
// testdata/distros/README.md names the source of every file; they hold the
// settings that matter, not copies.

// loadDistro copies testdata/distros/name into the guest tree.
func loadDistro(t *testing.T, g *guestTree, name string) {
	t.Helper()
	base := filepath.Join("testdata", "distros", name)
	err := filepath.WalkDir(base, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, path)
		g.file(filepath.ToSlash(rel), string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sshdShim answers `sshd -T` with the effective settings of the fixture and
// every `-o "Key value"` it is given (the ssh unit's own options), as sshd
// prints them: the key in lower case.
func sshdShim(effective string) string {
	return `[ "$1" = -T ] || exit 0
printf '` + strings.ReplaceAll(effective, "\n", `\n`) + `'
while [ $# -gt 0 ]; do
	if [ "$1" = -o ] && [ $# -gt 1 ]; then
		printf '%s\n' "$2" | awk '{ k = tolower($1); $1 = ""; print k $0 }'
		shift
	fi
	shift
done`
}

func TestDistroFixtures(t *testing.T) {
	for _, tc := range []struct {
		distro      string
		variant     string // what the case changes in the fixture
		setup       func(g *guestTree)
		env         []envVar // machine_identity's inputs beyond the defaults
		sshdT       string   // sshd -T of the fixture's sshd_config
		systemd     bool
		cloudInit   bool
		regenerator string // what machine_identity names, or "" when it must refuse
		keysCommand string // the AuthorizedKeysCommand the steps report
		policyFile  string // where access_policy writes
	}{
		// ssh.service's Alias=sshd.service, as `systemctl enable ssh` links it.
		{distro: "ubuntu-24.04", variant: "sshd.service alias link", setup: func(g *guestTree) {
			g.symlink("etc/systemd/system/sshd.service", filepath.Join(g.root, "usr/lib/systemd/system/ssh.service"))
		}, sshdT: "usepam yes\npasswordauthentication no\nauthorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\n",
			systemd: true, cloudInit: true, regenerator: "cloud-init's ssh module",
			keysCommand: "/usr/share/ec2-instance-connect/eic_run_authorized_keys %u %f (run as ec2-instance-connect)",
			policyFile:  "/etc/ssh/sshd_config.d/00-ami-hygiene.conf"},
		{distro: "al2023", sshdT: "usepam yes\npasswordauthentication yes\nauthorizedkeysfile .ssh/authorized_keys\n",
			systemd: true, cloudInit: true, regenerator: "cloud-init's ssh module",
			keysCommand: "/opt/aws/bin/eic_run_authorized_keys %u %f (run as ec2-instance-connect)",
			policyFile:  "/etc/ssh/sshd_config.d/00-ami-hygiene.conf"},
		{distro: "rhel-9", variant: "cloud-init disabled", setup: func(g *guestTree) { g.file("etc/cloud/cloud-init.disabled", "") },
			sshdT: "usepam yes\npasswordauthentication yes\nauthorizedkeysfile .ssh/authorized_keys\n", systemd: true, cloudInit: true,
			regenerator: "/usr/lib/systemd/system/sshd-keygen@.service", policyFile: "/etc/ssh/sshd_config.d/00-ami-hygiene.conf"},
		{distro: "opensuse-tumbleweed", sshdT: "usepam yes\npasswordauthentication yes\nauthorizedkeysfile .ssh/authorized_keys\n",
			systemd: true, regenerator: "/usr/lib/systemd/system/sshd.service", policyFile: "/etc/ssh/sshd_config.d/00-ami-hygiene.conf"},
		{distro: "alpine-3.20", sshdT: "passwordauthentication yes\nauthorizedkeysfile .ssh/authorized_keys\n",
			regenerator: "/etc/init.d/sshd", policyFile: "/etc/ssh/sshd_config.d/00-ami-hygiene.conf"},
		// Alpine's init script skips ssh-keygen -A when its conf.d says so.
		{distro: "alpine-3.20", variant: "keygen off", setup: func(g *guestTree) { g.file("etc/conf.d/sshd", "sshd_disable_keygen=\"yes\"\n") },
			sshdT: "passwordauthentication yes\n"},
		// Debian 13's sshd-keygen.service runs only on a systemd first boot:
		// with cloud-init disabled and the machine-id emptied, nothing makes
		// host keys; first_boot = true makes the instance's boot a first one.
		{distro: "debian-13", variant: "cloud-init disabled", setup: func(g *guestTree) { g.file("etc/cloud/cloud-init.disabled", "") },
			sshdT: "usepam yes\npasswordauthentication no\n", systemd: true, cloudInit: true},
		{distro: "debian-13", variant: "cloud-init disabled, first_boot", setup: func(g *guestTree) { g.file("etc/cloud/cloud-init.disabled", "") },
			env:   []envVar{{"AMIH_FIRST_BOOT", "1"}},
			sshdT: "usepam yes\npasswordauthentication no\n", systemd: true, cloudInit: true,
			regenerator: "/usr/lib/systemd/system/sshd-keygen.service", policyFile: "/etc/ssh/sshd_config.d/00-ami-hygiene.conf"},
	} {
		name := tc.distro
		if tc.variant != "" {
			name += " " + tc.variant
		}
		t.Run(name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				loadDistro(t, g, tc.distro)
				if tc.setup != nil {
					tc.setup(g)
				}
				g.file("etc/shadow", shadow)
				for _, k := range []string{"ed25519", "ecdsa"} {
					g.file("etc/ssh/ssh_host_"+k+"_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
					g.file("etc/ssh/ssh_host_"+k+"_key.pub", "ssh-"+k+" AAAA\n")
				}
				g.shim("sshd", sshdShim(tc.sshdT))
				g.shim("ssh-keygen", "exit 0")
				if tc.systemd {
					g.dir("run/systemd/system")
					g.shim("systemctl", `[ "$1" = --version ] && echo "systemd 255 (255.4)"`)
				}
				if tc.cloudInit {
					g.shim("cloud-init", "exit 0")
				}
				g.shim("usermod", "exit 0")

				id := g.run("machine_identity.sh", identityEnv(tc.env...)...)
				infos := id.text("info")
				if tc.regenerator == "" {
					if id.code == 0 || !g.exists("/etc/ssh/ssh_host_ed25519_key") {
						t.Fatalf("machine_identity removed the host keys with nothing to make new ones: code %d\n%s", id.code, infos)
					}
					return
				}
				if id.code != 0 || !strings.Contains(infos, "generated at boot by "+tc.regenerator) || g.exists("/etc/ssh/ssh_host_ed25519_key") {
					t.Fatalf("machine_identity: code %d, want keys regenerated by %s\ninfo: %s%v", id.code, tc.regenerator, infos, id.kind("error"))
				}
				if g.exists("/etc/machine-id") && g.read("etc/machine-id") != "" && len(tc.env) == 0 {
					t.Errorf("machine-id %q", g.read("etc/machine-id"))
				}

				keys := g.run("authorized_keys.sh", envVar{"AMIH_KEEP_USERS", ""})
				audit := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", ""}, envVar{"AMIH_SERVICES", ""})
				for name, run := range map[string]scriptRun{"authorized_keys": keys, "audit": audit} {
					said := run.text("info")
					if !run.completed || (tc.keysCommand != "") != strings.Contains(said, "AuthorizedKeysCommand "+tc.keysCommand) {
						t.Errorf("%s: completed %v, want AuthorizedKeysCommand %q reported\n%s", name, run.completed, tc.keysCommand, said)
					}
				}
				if keys.code != 0 {
					t.Errorf("authorized_keys: code %d\n%v", keys.code, keys.kind("error"))
				}

				policy := g.run("access_policy.sh", append(accessEnv, envVar{"AMIH_LOCK_ROOT", "0"}, envVar{"AMIH_LOCK_EMPTY", "0"})...)
				if policy.code != 0 || !slices.Equal(policy.targets("write"), []string{tc.policyFile}) {
					t.Errorf("access_policy: code %d, writes %v, want %s\n%v", policy.code, policy.targets("write"), tc.policyFile, policy.kind("error"))
				}
			})
		})
	}
}
