package provisioner

import (
	"strings"
	"testing"
)

func TestScriptsUpdatePackages(t *testing.T) {
	for pm, shim := range packageManagerShims {
		pm, shim := pm, shim
		t.Run(pm, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				g.shim(pm, shim)
				g.shim("uname", `echo 6.1.0-10-cloud-amd64`)
				g.file("boot/vmlinuz-6.1.0-10-cloud-amd64", "")

				dry := g.run("update_packages.sh", envVar{"AMIH_REBOOT", "if-required"}, envVar{"AMIH_DRY_RUN", "1"})
				if n, _ := dry.count("packages_upgraded"); dry.code != 0 || n != "2" || g.exists("../state/upgraded") {
					t.Fatalf("dry run: code %d, count %q, upgraded %v\n%v\n%s", dry.code, n, g.exists("../state/upgraded"), dry.records, dry.other)
				}

				res := g.run("update_packages.sh", envVar{"AMIH_REBOOT", "if-required"})
				if n, _ := res.count("packages_upgraded"); res.code != 0 || n != "2" || len(res.targets("upgrade")) != 2 {
					t.Fatalf("code %d, count %q, targets %v\n%v\n%s", res.code, n, res.targets("upgrade"), res.records, res.other)
				}
				if !g.exists("../state/upgraded") {
					t.Fatal("no upgrade ran")
				}
				if len(res.kind("reboot")) != 0 {
					t.Errorf("asked for a reboot without a reason: %v", res.kind("reboot"))
				}
				if again := g.run("update_packages.sh", envVar{"AMIH_REBOOT", "if-required"}); len(again.kind("change")) != 0 {
					t.Errorf("second run changed %v", again.kind("change"))
				}
				// apt never writes its binary caches (caches would remove them
				// again, a second run would count that as a change).
				for _, c := range g.calls() {
					if strings.HasPrefix(c, "apt-get ") && !strings.Contains(c, "-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= ") {
						t.Errorf("apt-get with binary caches on disk: %s", c)
					}
				}
			})
		})
	}
}

func TestScriptsRebootDecision(t *testing.T) {
	for _, tc := range []struct {
		name, mode string
		setup      func(g *guestTree)
		wantReboot string // substring of the reason; "" = no reboot
	}{
		{"required file", "if-required", func(g *guestTree) {
			g.file("var/run/reboot-required", "")
			g.file("var/run/reboot-required.pkgs", "libc6\n")
		}, "/var/run/reboot-required exists (libc6)"},
		{"newer kernel", "if-required", func(g *guestTree) { g.file("boot/vmlinuz-6.1.0-12-cloud-amd64", "") }, "kernel 6.1.0-12-cloud-amd64 is installed"},
		{"older kernel only", "if-required", func(g *guestTree) { g.file("boot/vmlinuz-6.1.0-9-cloud-amd64", "") }, ""},
		{"needs-restarting", "if-required", func(g *guestTree) { g.shim("needs-restarting", "exit 1") }, "needs-restarting -r"},
		{"never", "never", func(g *guestTree) { g.file("var/run/reboot-required", "") }, ""},
		{"always", "always", func(g *guestTree) {}, `reboot = "always"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				g.shim("apt-get", packageManagerShims["apt-get"])
				g.shim("uname", `echo 6.1.0-10-cloud-amd64`)
				g.file("boot/vmlinuz-6.1.0-10-cloud-amd64", "")
				tc.setup(g)
				res := g.run("update_packages.sh", envVar{"AMIH_REBOOT", tc.mode})
				reboots := res.kind("reboot")
				switch {
				case res.code != 0:
					t.Fatalf("code %d\n%s", res.code, res.other)
				case tc.wantReboot == "" && len(reboots) > 0:
					t.Errorf("unexpected reboot: %v", reboots)
				case tc.wantReboot != "" && (len(reboots) != 1 || !strings.Contains(reboots[0].field(0), tc.wantReboot)):
					t.Errorf("reboot records %v, want one containing %q", reboots, tc.wantReboot)
				}
			})
		})
	}
}

// packageManagerShims fakes one package manager with two pending upgrades
// that an upgrade applies.
var packageManagerShims = map[string]string{
	"apt-get": `case "$*" in
*-s*dist-upgrade*) [ -e "$STATE/upgraded" ] || printf 'Inst openssl [3.0.1] (3.0.2 Debian:12/stable [amd64])\nInst libc6 [2.36-1] (2.36-2 Debian-Security [amd64])\nConf openssl\n' ;;
*dist-upgrade*) touch "$STATE/upgraded" ;;
esac`,
	"dnf": `case "$*" in
*check-update*) [ -e "$STATE/upgraded" ] && exit 0; printf 'openssl.x86_64  1:3.0.8-2.amzn2023  amazonlinux\nkernel.x86_64  6.1.2-1  amazonlinux\n'; exit 100 ;;
*upgrade*) touch "$STATE/upgraded" ;;
esac`,
	"zypper": `case "$*" in
*list-updates*) [ -e "$STATE/upgraded" ] || printf 'S | Repository | Name | Current | Available | Arch\nv | repo-oss | openssl | 3.0.1 | 3.0.2 | x86_64\nv | repo-oss | bash | 5.1 | 5.2 | x86_64\n' ;;
*" update"*) touch "$STATE/upgraded" ;;
*needs-rebooting*) exit 0 ;;
esac`,
	"apk": `case "$*" in
*version*) [ -e "$STATE/upgraded" ] || printf 'Installed:  Available:\nopenssl-3.0.1-r0 < 3.0.2-r0\nbusybox-1.36.0-r0 < 1.36.1-r0\n' ;;
*upgrade*) touch "$STATE/upgraded" ;;
esac`,
}
