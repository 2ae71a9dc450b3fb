package provisioner

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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

func identityEnv(extra ...envVar) []envVar {
	env := []envVar{{"AMIH_REMOVE_HOST_KEYS", "1"}, {"AMIH_ENSURE_HOST_KEYS", "0"}, {"AMIH_CLOUD_INIT_CLEAN", "1"}, {"AMIH_RESET_HOSTNAME", "0"}, {"AMIH_FIRST_BOOT", "0"}}
	return append(env, extra...)
}

func TestScriptsMachineIdentity(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		identityTree(g, "252")
		g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - seed_random\n - ssh\n - set_hostname\n")

		dry := g.run("machine_identity.sh", identityEnv(envVar{"AMIH_DRY_RUN", "1"})...)
		if dry.code != 0 || len(dry.targets("remove")) != 9 || g.read("etc/machine-id") != "0123456789abcdef0123456789abcdef\n" || !g.exists(hostKeys[0]) || g.called("cloud-init clean") {
			t.Fatalf("dry run: code %d, would remove %v; machine-id %q\n%s", dry.code, dry.targets("remove"), g.read("etc/machine-id"), dry.other)
		}

		res := g.run("machine_identity.sh", identityEnv()...)
		if res.code != 0 {
			t.Fatalf("code %d: %v %s", res.code, res.kind("error"), res.other)
		}
		if got := g.read("etc/machine-id"); got != "" {
			t.Errorf("machine-id %q, want an empty file (a new id at the next boot, which is not a first boot)", got)
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
		// Issue 16, item 5: what cannot run does not count.
		{"masked sshd-keygen unit", func(g *guestTree) {
			g.file("usr/lib/systemd/system/sshd-keygen@.service", "[Unit]\n")
			g.symlink("etc/systemd/system/sshd-keygen@.service", "/dev/null")
		}, nil, false, "nothing on this image would generate SSH host keys"},
		{"cloud-init disabled on the kernel command line", func(g *guestTree) {
			g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - ssh\n")
			g.file("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda ro cloud-init=disabled quiet\n")
		}, nil, false, "nothing on this image would generate SSH host keys"},
		{"cloud-init's unit masked", func(g *guestTree) {
			g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - ssh\n")
			g.symlink("etc/systemd/system/cloud-init.service", "/dev/null")
		}, nil, false, "nothing on this image would generate SSH host keys"},
		{"cloud-init enabled", func(g *guestTree) {
			g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - ssh\n")
			g.file("proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda ro quiet\n")
		}, nil, true, "cloud-init's ssh module"},
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

// TestScriptsMachineIdFirstBoot: an empty /etc/machine-id gives each
// instance a new id without making its first boot a systemd "first boot",
// which would apply the unit presets again and re-enable what the build
// disabled (machine-id(5), "First Boot Semantics"); `first_boot = true`
// asks for that first boot ("uninitialized", systemd 247 and later).
func TestScriptsMachineIdFirstBoot(t *testing.T) {
	for _, tc := range []struct {
		name, systemd, firstBoot, before, want string
		warn                                   bool
	}{
		{"default: empty", "257", "0", "0123456789abcdef0123456789abcdef\n", "", false},
		{"uninitialized by an earlier tool becomes empty", "252", "0", "uninitialized\n", "", false},
		{"empty stays empty", "252", "0", "", "", false},
		{"first_boot", "257", "1", "0123456789abcdef0123456789abcdef\n", "uninitialized\n", false},
		{"first_boot on an empty file", "252", "1", "", "uninitialized\n", false},
		{"first_boot before systemd 247", "219", "1", "0123456789abcdef0123456789abcdef\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				identityTree(g, tc.systemd)
				g.file("etc/machine-id", tc.before)
				res := g.run("machine_identity.sh", identityEnv(envVar{"AMIH_REMOVE_HOST_KEYS", "0"}, envVar{"AMIH_FIRST_BOOT", tc.firstBoot})...)
				if res.code != 0 || g.read("etc/machine-id") != tc.want || (len(res.kind("warn")) > 0) != tc.warn {
					t.Errorf("code %d, machine-id %q (want %q), warnings %v\n%s", res.code, g.read("etc/machine-id"), tc.want, res.kind("warn"), res.other)
				}
				again := g.run("machine_identity.sh", identityEnv(envVar{"AMIH_REMOVE_HOST_KEYS", "0"}, envVar{"AMIH_FIRST_BOOT", tc.firstBoot})...)
				if slices.Contains(again.targets("reset"), "/etc/machine-id") {
					t.Errorf("the second run resets /etc/machine-id again")
				}
			})
		})
	}
}

var hostKeys = []string{"/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub",
	"/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_rsa_key.pub"}

// TestScriptsMachineIdentityNetworkLeftovers: the build's network identity
// goes — MACs of the build's own interfaces pinned in NetworkManager
// profiles, HWADDR and UUID of ifcfg files, cloud-init's generated network
// configuration (only while cloud-init runs at the next boot and renders the
// network), RPM's __db files, and with reset_hostname the build's name on
// /etc/hosts' 127.0.1.1 line — and nothing else: another MAC, other lines,
// another host's entry stay.
func TestScriptsMachineIdentityNetworkLeftovers(t *testing.T) {
	const nm = "[connection]\nid=eth0\nuuid=5e3f0c2a-1111-4222-8333-444455556666\n[ethernet]\nmac-address=52:54:00:12:34:56\n[ipv4]\nmethod=auto\n"
	const nmOther = "[connection]\nid=eth1\n[ethernet]\nmac-address=52:54:00:AA:BB:CC\n"
	const ifcfg = "DEVICE=eth0\nHWADDR=52:54:00:12:34:56\nUUID=5e3f0c2a-1111-4222-8333-444455556666\nBOOTPROTO=dhcp\n"
	const hosts = "127.0.0.1\tlocalhost\n127.0.1.1\tbuild-host.example.internal build-host\n10.0.0.5 build-host-db\n::1 localhost ip6-localhost\n"
	netcfg := []string{"/etc/network/interfaces.d/50-cloud-init", "/etc/netplan/50-cloud-init.yaml", "/etc/NetworkManager/system-connections/cloud-init-eth0.nmconnection"}
	for _, c := range []struct {
		name       string
		cloudCfg   string
		disabled   bool
		netcfgGone bool
		infoWanted string
	}{
		{"cloud-init renders the network", "cloud_init_modules:\n - ssh\n", false, true, ""},
		{"network config disabled", "cloud_init_modules:\n - ssh\nnetwork: {config: disabled}\n", false, false, "config: disabled"},
		{"cloud-init disabled", "cloud_init_modules:\n - ssh\n", true, false, "will not run"},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				identityTree(g, "252")
				g.file("etc/cloud/cloud.cfg", c.cloudCfg)
				if c.disabled {
					g.file("etc/cloud/cloud-init.disabled", "")
				}
				g.file("sys/class/net/ens2/address", "52:54:00:12:34:56\n")
				g.file("sys/class/net/lo/address", "00:00:00:00:00:00\n")
				g.file("etc/NetworkManager/system-connections/eth0.nmconnection", nm)
				g.file("etc/NetworkManager/system-connections/eth1.nmconnection", nmOther)
				g.file("etc/sysconfig/network-scripts/ifcfg-eth0", ifcfg)
				g.file("etc/hosts", hosts)
				g.file("var/lib/rpm/__db.001", "env")
				g.file("var/lib/rpm/rpmdb.sqlite", "db")
				for _, p := range netcfg {
					g.file(p, "# generated by cloud-init\n")
				}
				env := identityEnv(envVar{"AMIH_RESET_HOSTNAME", "1"}, envVar{"AMIH_REMOVE_HOST_KEYS", "0"})
				dry := g.run("machine_identity.sh", append(env, envVar{"AMIH_DRY_RUN", "1"})...)
				if dry.code != 0 || g.read("etc/hosts") != hosts || g.read("etc/sysconfig/network-scripts/ifcfg-eth0") != ifcfg {
					t.Fatalf("dry run: code %d, changed files %v\n%s", dry.code, dry.kind("error"), dry.other)
				}
				res := g.run("machine_identity.sh", env...)
				if res.code != 0 {
					t.Fatalf("code %d: %v %s", res.code, res.kind("error"), res.other)
				}
				if got, want := g.read("etc/NetworkManager/system-connections/eth0.nmconnection"), strings.Replace(nm, "mac-address=52:54:00:12:34:56\n", "", 1); got != want {
					t.Errorf("NetworkManager profile:\n%s\nwant:\n%s", got, want)
				}
				if got := g.read("etc/NetworkManager/system-connections/eth1.nmconnection"); got != nmOther {
					t.Errorf("a profile for another MAC was changed:\n%s", got)
				}
				if got := g.read("etc/sysconfig/network-scripts/ifcfg-eth0"); got != "DEVICE=eth0\nBOOTPROTO=dhcp\n" {
					t.Errorf("ifcfg:\n%s", got)
				}
				if got, want := g.read("etc/hosts"), "127.0.0.1\tlocalhost\n10.0.0.5 build-host-db\n::1 localhost ip6-localhost\n"; got != want {
					t.Errorf("/etc/hosts:\n%q\nwant:\n%q", got, want)
				}
				if g.exists("var/lib/rpm/__db.001") || !g.exists("var/lib/rpm/rpmdb.sqlite") {
					t.Errorf("RPM: __db.001 gone %v, rpmdb.sqlite kept %v", !g.exists("var/lib/rpm/__db.001"), g.exists("var/lib/rpm/rpmdb.sqlite"))
				}
				for _, p := range netcfg {
					if g.exists(p) == c.netcfgGone {
						t.Errorf("%s: gone %v, want gone %v", p, !g.exists(p), c.netcfgGone)
					}
				}
				var infos []string
				for _, r := range res.kind("info") {
					infos = append(infos, r.field(0))
				}
				if c.infoWanted != "" && !strings.Contains(strings.Join(infos, "\n"), c.infoWanted) {
					t.Errorf("no info saying %q: %v", c.infoWanted, infos)
				}
				if again := g.run("machine_identity.sh", env...); again.code != 0 || len(again.kind("change")) != 0 {
					t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
				}
			})
		})
	}
}
