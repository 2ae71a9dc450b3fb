package provisioner

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScriptsShellHistory(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		removed := []string{
			"/root/.bash_history", "/root/.python_history", "/root/.lesshst", "/root/.viminfo",
			"/home/admin/.bash_history", "/home/admin/.mysql_history", "/home/admin/.psql_history",
			"/home/admin/.local/share/fish/fish_history", "/home/admin/.wget-hsts", "/home/admin/.irb_history",
			"/home/alice/.zsh_history", "/home/alice/.zhistory", "/home/alice/.node_repl_history",
			"/home/alice/.sqlite_history", "/home/alice/.rediscli_history", "/home/alice/.ash_history", "/home/admin/.config/fish/fish_history",
			"/var/www/.bash_history",
			"/home/admin/.link_history", // a link: the link goes, its target stays
		}
		kept := []string{
			"/home/admin/history.txt", "/home/admin/.bash_history.d/keep", "/srv/app/.bash_history",
			"/home/admin/notes/.bash_history", "/home/admin/.bashrc", "/etc/outside-target",
		}
		for _, p := range removed[:len(removed)-1] {
			g.file(p, "secret command\n")
		}
		g.symlink("/home/admin/.link_history", filepath.Join(g.root, "etc/outside-target"))
		for _, p := range kept {
			g.file(p, "keep\n")
		}
		env := envVar{"AMIH_EXTRA_PATTERNS", ".irb_history\n.link_history"}

		dry := g.run("shell_history.sh", env, envVar{"AMIH_DRY_RUN", "1"})
		if dry.code != 0 || !equal(dry.targets("remove"), sorted(removed...)) {
			t.Fatalf("dry run: code %d, would remove %v, want %v\n%s", dry.code, dry.targets("remove"), sorted(removed...), dry.other)
		}
		for _, p := range removed {
			if !g.exists(p) {
				t.Fatalf("dry run removed %s", p)
			}
		}

		res := g.run("shell_history.sh", env)
		if res.code != 0 || !equal(res.targets("remove"), sorted(removed...)) {
			t.Fatalf("code %d, removed %v, want %v\n%s", res.code, res.targets("remove"), sorted(removed...), res.other)
		}
		for _, p := range removed {
			if g.exists(p) {
				t.Errorf("%s is still there", p)
			}
		}
		for _, p := range kept {
			if !g.exists(p) {
				t.Errorf("lookalike %s was removed", p)
			}
		}
		if again := g.run("shell_history.sh", env); again.code != 0 || len(again.kind("change")) != 0 {
			t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
		}
	})
}

func TestScriptsCredentials(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		files := map[string]string{
			"/root/.aws/credentials":                          "[default]\naws_secret_access_key = x\n",
			"/home/admin/.docker/config.json":                 `{"auths":{"registry":{"auth":"eA=="}}}`,
			"/home/admin/.git-credentials":                    "https://u:p@host\n",
			"/home/admin/.netrc":                              "machine h login u password p\n",
			"/home/alice/.pgpass":                             "h:5432:*:u:p\n",
			"/home/alice/.my.cnf":                             "[client]\npassword=p\n",
			"/home/alice/.npmrc":                              "//registry/:_authToken=abc\n",
			"/home/alice/.pypirc":                             "[pypi]\n  password = p\n",
			"/home/admin/.kube/config":                        "apiVersion: v1\n",
			"/root/.vault-token":                              "s.abc\n",
			"/home/admin/.config/gcloud/credentials.db":       "db",
			"/home/admin/.azure/msal_token_cache.json":        "{}",
			"/home/admin/.ssh/id_ed25519":                     "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
			"/root/.ssh/deploy":                               "-----BEGIN RSA PRIVATE KEY-----\nx\n",
			"/etc/chef/client.pem":                            "-----BEGIN RSA PRIVATE KEY-----\n",
			"/opt/app/deploy.key":                             "key",
			"/home/admin/.aws/sso/cache/token.json":           "{}",
			"/home/admin/.config/gcloud/legacy_credentials/a": "x",
		}
		kept := map[string]string{
			"/root/.docker/config.json":       `{"credsStore":"pass"}`,
			"/home/admin/.npmrc.example":      "_authToken=abc",
			"/home/admin/.ssh/id_ed25519.pub": "ssh-ed25519 AAAA",
			"/home/admin/.ssh/known_hosts":    "host ssh-ed25519 AAAA",
			"/home/admin/.ssh/config":         "Host x\n",
			"/home/admin/.aws/config":         "[default]\nregion = eu-west-1\n",
			"/srv/app/.git-credentials":       "not a home",
		}
		g.file("/home/alice/.docker/config.json.d/keep", "a directory of that name stays")
		for p, c := range files {
			g.file(p, c)
		}
		for p, c := range kept {
			g.file(p, c)
		}
		res := g.run("credentials.sh", envVar{"AMIH_PATHS", "/opt/app/deploy.key\n/opt/missing"})
		if res.code != 0 {
			t.Fatalf("code %d: %s", res.code, res.other)
		}
		for p := range files {
			if g.exists(p) {
				t.Errorf("%s is still there", p)
			}
		}
		for p := range kept {
			if !g.exists(p) {
				t.Errorf("%s was removed", p)
			}
		}
		if !g.exists("/home/alice/.docker/config.json.d/keep") {
			t.Error("a lookalike directory was removed")
		}
		if again := g.run("credentials.sh", envVar{"AMIH_PATHS", "/opt/app/deploy.key"}); len(again.kind("change")) != 0 {
			t.Errorf("second run changed %v", again.kind("change"))
		}
	})
}

func TestScriptsAuthorizedKeys(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n")
		g.file("etc/ssh/sshd_config.d/keys.conf", "AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/keys/%u %h/.ssh/extra_%u\n")
		removed := []string{"/root/.ssh/authorized_keys", "/home/admin/.ssh/authorized_keys",
			"/home/admin/.ssh/authorized_keys2", "/etc/ssh/keys/admin", "/home/admin/.ssh/extra_admin",
			"/etc/ssh/keys/root"}
		kept := []string{"/home/alice/.ssh/authorized_keys", "/etc/ssh/keys/alice",
			"/home/admin/.ssh/authorized_keys.example", "/srv/app/authorized_keys"}
		for _, p := range append(append([]string{}, removed...), kept...) {
			g.file(p, "ssh-ed25519 AAAA key\n")
		}
		dry := g.run("authorized_keys.sh", envVar{"AMIH_KEEP_USERS", "alice"}, envVar{"AMIH_DRY_RUN", "1"})
		if dry.code != 0 || !g.exists(removed[0]) || g.exists("run/ami-hygiene/no-reconnect") {
			t.Fatalf("the dry run changed the guest (code %d)", dry.code)
		}
		res := g.run("authorized_keys.sh", envVar{"AMIH_KEEP_USERS", "alice"})
		if res.code != 0 || !equal(res.targets("remove"), sorted(removed...)) {
			t.Fatalf("code %d, removed %v, want %v\n%s", res.code, res.targets("remove"), sorted(removed...), res.other)
		}
		if note := g.read("run/ami-hygiene/no-reconnect"); note != "authorized_keys removed the keys the build connects with\n" {
			t.Errorf("no-reconnect note %q", note)
		}
		if again := g.run("authorized_keys.sh", envVar{"AMIH_KEEP_USERS", "alice"}); again.code != 0 || len(again.kind("change")) != 0 {
			t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
		}
		for _, p := range kept {
			if !g.exists(p) {
				t.Errorf("%s was removed", p)
			}
		}
	})
}

// postfixShims fakes postfix: the queue is a number in $STATE/queue; a flush
// delivers everything unless $STATE/stuck exists.
func postfixShims(g *guestTree, queued string) {
	g.file("../state/queue", queued)
	g.shim("postqueue", `n=$(cat "$STATE/queue")
case $1 in
-p) if [ "$n" -eq 0 ]; then echo "Mail queue is empty"; else echo "-- 1 Kbytes in $n Requests."; fi ;;
-f) [ -e "$STATE/stuck" ] || echo 0 >"$STATE/queue" ;;
esac`)
	g.shim("postsuper", `[ "$1 $2" = "-d ALL" ] && echo 0 >"$STATE/queue"`)
}

func TestScriptsMailQueue(t *testing.T) {
	for _, tc := range []struct {
		name, onTimeout string
		stuck           bool
		wantCode        int
		wantPurged      bool
	}{
		{"flush delivers", "fail", false, 0, false},
		{"stuck fails", "fail", true, 1, false},
		{"stuck purged", "purge", true, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				postfixShims(g, "3")
				if tc.stuck {
					g.file("../state/stuck", "")
				}
				g.file("var/mail/admin", "From x\nmail\n")
				g.file("var/mail/alice", "")
				env := []envVar{{"AMIH_FLUSH_TIMEOUT", "2"}, {"AMIH_ON_TIMEOUT", tc.onTimeout}}
				res := g.run("mail_queue.sh", env...)
				if res.code != tc.wantCode {
					t.Fatalf("code %d, want %d\n%v\n%s", res.code, tc.wantCode, res.records, res.other)
				}
				if n, _ := res.count("queued_before"); n != "3" {
					t.Errorf("queued_before = %q", n)
				}
				if !g.called("postqueue -f") {
					t.Error("the queue was not flushed")
				}
				if got := g.called("postsuper -d ALL"); got != tc.wantPurged {
					t.Errorf("purged = %v, want %v", got, tc.wantPurged)
				}
				if tc.wantCode == 0 {
					if data, _ := os.ReadFile(filepath.Join(g.root, "var/mail/admin")); len(data) != 0 {
						t.Error("the mail spool was not emptied")
					}
					if !equal(res.targets("empty"), []string{"/var/mail/admin"}) {
						t.Errorf("emptied %v", res.targets("empty"))
					}
				}
			})
		})
	}
	t.Run("dry run", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			postfixShims(g, "2")
			g.file("var/mail/admin", "mail\n")
			res := g.run("mail_queue.sh", envVar{"AMIH_FLUSH_TIMEOUT", "1"}, envVar{"AMIH_ON_TIMEOUT", "fail"}, envVar{"AMIH_DRY_RUN", "1"})
			if res.code != 0 || g.called("postqueue -f") || g.called("postsuper") {
				t.Fatalf("dry run acted: code %d, calls %v", res.code, g.calls())
			}
			if data, _ := os.ReadFile(filepath.Join(g.root, "var/mail/admin")); string(data) != "mail\n" {
				t.Error("dry run emptied the spool")
			}
		})
	})
	t.Run("exim", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			g.file("../state/queue", "1")
			g.shim("exim4", `case $1 in -bpc) cat "$STATE/queue" ;; -qff) echo 0 >"$STATE/queue" ;; esac`)
			res := g.run("mail_queue.sh", envVar{"AMIH_FLUSH_TIMEOUT", "2"}, envVar{"AMIH_ON_TIMEOUT", "fail"})
			if res.code != 0 || !g.called("exim4 -qff") {
				t.Fatalf("code %d, calls %v\n%s", res.code, g.calls(), res.other)
			}
		})
	})
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

// systemdShims fakes systemctl: a unit exists when $STATE/units/NAME exists,
// is active when $STATE/active/NAME exists, enabled with $STATE/enabled/NAME.
const systemdShim = `unit=$(for a in "$@"; do :; done; echo "$a")
case "$1" in
show) [ -e "$STATE/units/$unit" ] && echo LoadState=loaded || echo LoadState=not-found ;;
is-active) [ -e "$STATE/active/$unit" ] ;;
is-enabled) [ -e "$STATE/enabled/$unit" ] && echo enabled || echo disabled ;;
stop) [ -e "$STATE/sticky/$unit" ] || rm -f "$STATE/active/$unit" ;;
disable) rm -f "$STATE/enabled/$unit" ;;
esac`

func TestScriptsStopServices(t *testing.T) {
	setup := func(g *guestTree) {
		g.dir("run/systemd/system")
		g.shim("systemctl", systemdShim)
		for _, f := range []string{"units/nginx", "units/myapp", "active/nginx", "active/myapp", "enabled/myapp"} {
			g.file("../state/"+f, "")
		}
	}
	t.Run("stops and disables", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			setup(g)
			res := g.run("stop_services.sh", envVar{"AMIH_SERVICES", "nginx\nmyapp"}, envVar{"AMIH_DISABLE", "1"})
			if res.code != 0 || !equal(res.targets("stop"), []string{"myapp", "nginx"}) || !equal(res.targets("disable"), []string{"myapp"}) {
				t.Fatalf("code %d, stopped %v, disabled %v\n%s", res.code, res.targets("stop"), res.targets("disable"), res.other)
			}
			if g.exists("../state/active/nginx") || g.exists("../state/enabled/myapp") {
				t.Error("not stopped or not disabled")
			}
			if again := g.run("stop_services.sh", envVar{"AMIH_SERVICES", "nginx\nmyapp"}, envVar{"AMIH_DISABLE", "1"}); len(again.kind("change")) != 0 {
				t.Errorf("second run changed %v", again.kind("change"))
			}
		})
	})
	t.Run("unknown service", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			setup(g)
			res := g.run("stop_services.sh", envVar{"AMIH_SERVICES", "nginx\nnope"}, envVar{"AMIH_DISABLE", "0"})
			if res.code == 0 || g.called("systemctl stop") || !strings.Contains(res.kind("error")[0].field(0), "nope") {
				t.Fatalf("code %d, calls %v, records %v", res.code, g.calls(), res.records)
			}
		})
	})
	t.Run("still active", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			setup(g)
			g.file("../state/sticky/nginx", "")
			res := g.run("stop_services.sh", envVar{"AMIH_SERVICES", "nginx"}, envVar{"AMIH_DISABLE", "0"})
			if res.code == 0 || !strings.Contains(res.kind("error")[0].field(0), "still active") {
				t.Fatalf("code %d, records %v", res.code, res.records)
			}
		})
	})
	t.Run("openrc", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			g.file("etc/init.d/nginx", "#!/sbin/openrc-run\n")
			if err := os.Chmod(filepath.Join(g.root, "etc/init.d/nginx"), 0o755); err != nil {
				t.Fatal(err)
			}
			g.file("../state/running", "")
			g.shim("rc-service", `case $2 in status) [ -e "$STATE/running" ] ;; stop) rm -f "$STATE/running" ;; esac`)
			g.shim("rc-update", `case $1 in show) echo " nginx | default" ;; del) touch "$STATE/deleted" ;; esac`)
			res := g.run("stop_services.sh", envVar{"AMIH_SERVICES", "nginx"}, envVar{"AMIH_DISABLE", "1"})
			if res.code != 0 || g.exists("../state/running") || !g.exists("../state/deleted") {
				t.Fatalf("code %d, calls %v\n%s", res.code, g.calls(), res.other)
			}
		})
	})
}

func TestScriptsVerify(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		res := g.run("verify.sh",
			envVar{"AMIH_CHECK_COUNT", "2"},
			envVar{"AMIH_CHECK_1_COMMAND", "echo 'it'\"'\"'s'; echo \"$((1+1))\" >&2"},
			envVar{"AMIH_CHECK_1_TIMEOUT", "10"},
			envVar{"AMIH_CHECK_2_COMMAND", "exit 3"},
			envVar{"AMIH_CHECK_2_TIMEOUT", "10"},
		)
		outputs := res.kind("output")
		if res.code != 0 || len(outputs) != 2 || outputs[0].field(1) != "it's\n2" {
			t.Fatalf("code %d, outputs %q\n%s", res.code, outputs, res.other)
		}
		if n, _ := res.count("exit_2"); n != "3" {
			t.Errorf("exit_2 = %q", n)
		}
	})
}

func TestScriptsWaitForBoot(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.dir("run/systemd/system")
		g.shim("cloud-init", "exit 2")
		g.shim("systemctl", `case "$1" in
is-system-running) echo degraded ;;
list-units) echo "broken.service loaded failed failed Broken" ;;
show) echo LoadState=not-found ;;
esac`)
		g.shim("journalctl", `printf 'one\ntwo\n'`)
		g.file("var/log/boot.log", "[  OK  ] Started x\n[FAILED] Failed to start y\n")
		res := g.run("wait_for_boot.sh", envVar{"AMIH_BOOT_TIMEOUT", "30"}, envVar{"AMIH_MIN_UPTIME", "0"})
		if res.code != 0 {
			t.Fatalf("code %d\n%v\n%s", res.code, res.records, res.other)
		}
		var warnings []string
		for _, w := range res.kind("warn") {
			warnings = append(warnings, w.field(0))
		}
		all := strings.Join(warnings, "\n")
		for _, want := range []string{"recoverable errors", "systemd is degraded", "failed unit: broken.service", "2 error messages", "1 failure lines"} {
			if !strings.Contains(all, want) {
				t.Errorf("no warning %q in %q", want, all)
			}
		}
	})
	t.Run("automatic updates held in one go", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			g.dir("run/systemd/system")
			g.shim("cloud-init", "exit 0")
			g.shim("journalctl", "true")
			g.shim("systemctl", `case "$1 $2" in
"is-system-running "*) echo running ;;
"show -p") case $5 in apt-daily.timer|apt-daily.service|unattended-upgrades.service) echo LoadState=loaded ;; *) echo LoadState=not-found ;; esac ;;
"is-enabled apt-daily.service") echo masked-runtime ;;
"is-enabled "*) echo enabled ;;
esac`)
			res := g.run("wait_for_boot.sh", envVar{"AMIH_BOOT_TIMEOUT", "30"}, envVar{"AMIH_MIN_UPTIME", "0"})
			var masks []string
			for _, c := range g.calls() {
				if strings.HasPrefix(c, "systemctl mask") || strings.HasPrefix(c, "systemctl stop") {
					masks = append(masks, c)
				}
			}
			want := []string{"systemctl mask --runtime -- apt-daily.timer unattended-upgrades.service",
				"systemctl stop -- apt-daily.timer unattended-upgrades.service"}
			if res.code != 0 || !equal(masks, want) || len(res.kind("info")) < 2 {
				t.Errorf("code %d, calls %v, want %v\n%v", res.code, masks, want, res.kind("info"))
			}
		})
	})
	// A second run in the same boot, after machine_identity cleaned
	// cloud-init's state: `status --wait` would wait for ever on "not run".
	t.Run("cloud-init state cleaned in this boot", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			g.dir("run/systemd/system")
			g.shim("cloud-init", `case "$*" in "status") echo "status: not run" ;; *) exit 1 ;; esac`)
			g.shim("journalctl", "true")
			g.shim("systemctl", `case "$1" in is-system-running) echo running ;; show) echo LoadState=not-found ;; esac`)
			res := g.run("wait_for_boot.sh", envVar{"AMIH_BOOT_TIMEOUT", "30"}, envVar{"AMIH_MIN_UPTIME", "0"})
			if res.code != 0 || g.called("cloud-init status --wait") || !strings.Contains(fmt.Sprint(res.kind("info")), "cloud-init has not run in this boot") {
				t.Fatalf("code %d, calls %v, records %v", res.code, g.calls(), res.records)
			}
		})
	})
	t.Run("cloud-init failed", func(t *testing.T) {
		forEachShell(t, func(t *testing.T, g *guestTree) {
			g.shim("cloud-init", "exit 1")
			res := g.run("wait_for_boot.sh", envVar{"AMIH_BOOT_TIMEOUT", "30"}, envVar{"AMIH_MIN_UPTIME", "0"})
			if res.code == 0 || len(res.kind("error")) != 1 {
				t.Fatalf("code %d, records %v", res.code, res.records)
			}
		})
	})
}

func TestScriptsWaitForBootPackageManagerBusy(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("proc/4242/comm", "unattended-upgr\n")
		res := g.run("wait_for_boot.sh", envVar{"AMIH_BOOT_TIMEOUT", "3"}, envVar{"AMIH_MIN_UPTIME", "0"})
		errs := res.kind("error")
		if res.code == 0 || len(errs) != 1 || !strings.Contains(errs[0].field(0), "package manager still busy (unattended-upgr)") {
			t.Fatalf("code %d, records %v", res.code, res.records)
		}
	})
}

func TestScriptsWaitForBootWaitsForSystemd(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.dir("run/systemd/system")
		// "starting" twice, then "running" (exit 1 while not running, as systemctl does).
		g.shim("systemctl", `case "$1" in
is-system-running)
	n=$(cat "$STATE/n" 2>/dev/null || echo 0); echo $((n + 1)) >"$STATE/n"
	if [ "$n" -lt 2 ]; then echo starting; exit 1; fi
	echo running ;;
show) echo LoadState=not-found ;;
esac`)
		res := g.run("wait_for_boot.sh", envVar{"AMIH_BOOT_TIMEOUT", "60"}, envVar{"AMIH_MIN_UPTIME", "0"})
		var info []string
		for _, r := range res.kind("info") {
			info = append(info, r.field(0))
		}
		if res.code != 0 || !strings.Contains(strings.Join(info, "|"), "systemd is running") {
			t.Fatalf("code %d, records %v\n%s", res.code, res.records, res.other)
		}
	})
}
