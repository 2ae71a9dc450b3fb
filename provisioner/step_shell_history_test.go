package provisioner

import (
	"path/filepath"
	"slices"
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
		if dry.code != 0 || !slices.Equal(dry.targets("remove"), sorted(removed...)) {
			t.Fatalf("dry run: code %d, would remove %v, want %v\n%s", dry.code, dry.targets("remove"), sorted(removed...), dry.other)
		}
		for _, p := range removed {
			if !g.exists(p) {
				t.Fatalf("dry run removed %s", p)
			}
		}

		res := g.run("shell_history.sh", env)
		if res.code != 0 || !slices.Equal(res.targets("remove"), sorted(removed...)) {
			t.Fatalf("code %d, removed %v, want %v\n%s", res.code, res.targets("remove"), sorted(removed...), res.other)
		}
		g.allGone(removed)
		g.allKept(kept)
		if again := g.run("shell_history.sh", env); again.code != 0 || len(again.kind("change")) != 0 {
			t.Errorf("second run: code %d, changes %v", again.code, again.kind("change"))
		}
	})
}
