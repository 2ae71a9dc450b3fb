package provisioner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestScriptsFinalShutdownInstall: the unit and its script go to /run only
// (in memory), the unit is ordered before every unit whose stop writes what
// it removes, it is started once and never restarted (its stop is the
// cleanup), and a second run changes nothing. Dry run writes nothing.
func TestScriptsFinalShutdownInstall(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd+"builder:x:1002:1002::/home/builder:/bin/bash\n")
		g.dir("run/systemd/system")
		g.shim("systemctl", `case $1 in is-active) [ -f "$STATE/started" ] ;; start) touch "$STATE/started" ;; esac`)
		cfg := FinalShutdown{RemoveUsers: []string{"builder", "ghost"}}
		env := cfg.env()
		dry := g.run("final_shutdown.sh", append(env, envVar{"AMIH_DRY_RUN", "1"})...)
		if dry.code != 0 || len(dry.targets("install")) != 1 || g.exists("run/ami-hygiene") || g.called("systemctl start") {
			t.Fatalf("dry run: code %d, %v, calls %v\n%s", dry.code, dry.targets("install"), g.calls(), dry.other)
		}
		res := g.run("final_shutdown.sh", env...)
		if res.code != 0 || !slices.Equal(res.targets("install"), []string{"/run/systemd/system/ami-hygiene-final-shutdown.service"}) {
			t.Fatalf("code %d, installed %v\n%s", res.code, res.targets("install"), res.other)
		}
		unit := g.read("run/systemd/system/ami-hygiene-final-shutdown.service")
		for _, want := range []string{"ExecStop=/bin/sh /run/ami-hygiene/final-shutdown.sh", "DefaultDependencies=no", "Conflicts=shutdown.target",
			"systemd-journal-flush.service", "systemd-random-seed.service", "systemd-update-utmp.service", "wtmpdb-update-boot.service",
			"networking.service", "NetworkManager.service", "ssh.service", "user.slice"} {
			if !strings.Contains(unit, want) {
				t.Errorf("the unit lacks %q:\n%s", want, unit)
			}
		}
		if got := g.read("run/ami-hygiene/final-shutdown.sh"); got != env[len(env)-1].Value || !strings.Contains(got, "AMIH_PHASE='shutdown'") {
			t.Errorf("the shutdown script is not the one the step carries")
		}
		if st, err := os.Stat(filepath.Join(g.root, "run/ami-hygiene/final-shutdown.sh")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("script mode %v %v, want 0600", st.Mode(), err)
		}
		var infos string
		for _, r := range res.kind("info") {
			infos += r.field(0) + "\n"
		}
		if !strings.Contains(infos, "ghost does not exist") || !strings.Contains(infos, "the users builder ghost") {
			t.Errorf("info:\n%s", infos)
		}
		again := g.run("final_shutdown.sh", env...)
		if again.code != 0 || len(again.kind("change")) != 0 {
			t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
		}
		starts := 0
		for _, c := range g.calls() {
			if strings.HasPrefix(c, "systemctl start") || strings.HasPrefix(c, "systemctl restart") || strings.HasPrefix(c, "systemctl stop") {
				starts++
			}
		}
		if starts != 1 {
			t.Errorf("the unit was started, restarted or stopped %d times, want one start: %v", starts, g.calls())
		}
		g.file("etc/passwd", passwd+"toor:x:0:0::/root:/bin/sh\n")
		if uid0 := g.run("final_shutdown.sh", (&FinalShutdown{RemoveUsers: []string{"toor"}}).env()...); uid0.code != 1 || !strings.Contains(uid0.other+uid0.text("error"), "uid 0") {
			t.Errorf("a uid-0 user to remove: code %d %v", uid0.code, uid0.kind("error"))
		}
	})
}

// TestScriptsFinalShutdownCleanup: the unit's stop (the shutdown phase)
// overwrites and removes what the shutdown wrote — leases, the random seed,
// the login records' content, every journal file (not the folder),
// cloud-init's sudo rule when cloud-init runs again — and removes the
// listed user with its home; other users, other sudo rules and the
// journal's folder stay. Without cloud-init running again the sudo rule
// stays (the instance's user would lose sudo).
func TestScriptsFinalShutdownCleanup(t *testing.T) {
	for _, cloudInit := range []bool{true, false} {
		t.Run(map[bool]string{true: "cloud-init runs again", false: "cloud-init disabled"}[cloudInit], func(t *testing.T) {
			forEachShell(t, func(t *testing.T, g *guestTree) {
				g.file("etc/passwd", passwd+"builder:x:1002:1002::/home/builder:/bin/bash\n")
				g.file("home/builder/build.log", "secret build output")
				g.chownTree("home/builder", 1002)
				g.file("home/alice/keep", "x")
				g.file("var/lib/dhcp/dhclient.ens2.leases", "lease { fixed-address 10.0.2.15; }")
				g.file("var/lib/systemd/random-seed", "seed")
				g.file("var/log/wtmp", "logout record")
				g.file("var/lib/lastlog/lastlog2.db", "sqlite")
				g.file("var/log/journal/0123/system.journal", "shutdown journal")
				g.file("var/log/journal/0123/user-1000@x.journal", "journal")
				g.file("etc/sudoers.d/90-cloud-init-users", "# Created by cloud-init v. 25.1.4 on Fri\n\n# User rules for admin\nadmin ALL=(ALL) NOPASSWD:ALL\n")
				g.file("etc/sudoers.d/ops", "%ops ALL=(ALL) ALL\n")
				g.file("etc/cloud/cloud.cfg", "cloud_init_modules:\n - ssh\n")
				g.shim("cloud-init", "exit 0")
				if !cloudInit {
					g.file("etc/cloud/cloud-init.disabled", "")
				}
				g.shim("userdel", `eval "u=\${$#}"; sed -i "/^$u:/d" "$ROOT/etc/passwd"; [ "$1" != -r ] || rm -rf "$ROOT/home/$u"`)
				res := g.run("final_shutdown.sh", envVar{"AMIH_PHASE", "shutdown"}, envVar{"AMIH_KEEP_JOURNAL", "0"}, envVar{"AMIH_REMOVE_USERS", "builder"})
				if res.code != 0 {
					t.Fatalf("code %d\n%s", res.code, res.other)
				}
				gone := []string{"var/lib/dhcp/dhclient.ens2.leases", "var/lib/systemd/random-seed", "var/log/journal/0123", "home/builder"}
				kept := []string{"var/log/journal", "home/alice/keep", "etc/sudoers.d/ops"}
				if cloudInit {
					gone = append(gone, "etc/sudoers.d/90-cloud-init-users")
				} else {
					kept = append(kept, "etc/sudoers.d/90-cloud-init-users")
				}
				g.allGone(gone)
				g.allKept(kept)
				for _, p := range []string{"var/log/wtmp", "var/lib/lastlog/lastlog2.db"} {
					if g.read(p) != "" {
						t.Errorf("%s not emptied", p)
					}
				}
				if strings.Contains(g.read("etc/passwd"), "builder") || !slices.Equal(res.targets("remove-user"), []string{"builder"}) {
					t.Errorf("builder not removed: %v", res.targets("remove-user"))
				}
				if d := res.kind("change"); len(d) == 0 || !strings.Contains(d[0].field(2), "overwritten first") {
					t.Errorf("not overwritten first: %v", d)
				}
			})
		})
	}
}

// TestScriptsFinalShutdownForeignHome: a listed user whose passwd home is
// not its own (here /srv/data, owned by another uid) is removed without its
// home being overwritten: the files there keep their content.
func TestScriptsFinalShutdownForeignHome(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd+"svc:x:1003:1003::/srv/data:/bin/sh\n")
		g.file("srv/data/keep.db", "data of the system")
		g.shim("userdel", `eval "u=\${$#}"; sed -i "/^$u:/d" "$ROOT/etc/passwd"`)
		res := g.run("final_shutdown.sh", envVar{"AMIH_PHASE", "shutdown"}, envVar{"AMIH_KEEP_JOURNAL", "1"}, envVar{"AMIH_REMOVE_USERS", "svc"})
		if res.code != 0 || !slices.Equal(res.targets("remove-user"), []string{"svc"}) {
			t.Fatalf("code %d, removed %v\n%s", res.code, res.targets("remove-user"), res.other)
		}
		if got := g.read("srv/data/keep.db"); got != "data of the system" {
			t.Errorf("a home the user does not own was overwritten: %q", got)
		}
		// Nor removed: no userdel -r (or -f, which removes a home another
		// user shares), no deluser --remove-home.
		for _, c := range g.calls() {
			if f := strings.Fields(c); (f[0] == "userdel" || f[0] == "deluser") && (slices.Contains(f, "-r") || slices.Contains(f, "-f") || slices.Contains(f, "--remove-home")) {
				t.Errorf("a home the user does not own was given to %q", c)
			}
		}
	})
}
