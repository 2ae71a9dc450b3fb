package provisioner

import (
	"slices"
	"testing"
)

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
		if res.code != 0 || !slices.Equal(res.targets("remove"), sorted(removed...)) {
			t.Fatalf("code %d, removed %v, want %v\n%s", res.code, res.targets("remove"), sorted(removed...), res.other)
		}
		if note := g.read("run/ami-hygiene/no-reconnect"); note != "authorized_keys removed the keys the build connects with\n" {
			t.Errorf("no-reconnect note %q", note)
		}
		if again := g.run("authorized_keys.sh", envVar{"AMIH_KEEP_USERS", "alice"}); again.code != 0 || len(again.kind("change")) != 0 {
			t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
		}
		g.allKept(kept)
	})
}

// Issue 16, item 6: keep_users keeps a file every user shares, and %U (the
// uid) is expanded.
func TestScriptsAuthorizedKeysSharedAndUID(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/ssh/sshd_config", "AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/breakglass_keys /etc/ssh/keys/%U\n")
		for _, home := range []string{"root", "home/admin", "home/alice"} {
			g.dir(home)
		}
		for _, p := range []string{"/etc/ssh/breakglass_keys", "/etc/ssh/keys/0", "/etc/ssh/keys/1000", "/etc/ssh/keys/1001"} {
			g.file(p, "ssh-ed25519 AAAA key\n")
		}
		res := g.run("authorized_keys.sh", envVar{"AMIH_KEEP_USERS", "alice"})
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		g.allKept([]string{"/etc/ssh/breakglass_keys", "/etc/ssh/keys/1001"})
		g.allGone([]string{"/etc/ssh/keys/0", "/etc/ssh/keys/1000"})
		// Without keep_users, the shared file goes too.
		if res = g.run("authorized_keys.sh"); res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		g.allGone([]string{"/etc/ssh/breakglass_keys", "/etc/ssh/keys/1001"})
	})
}
