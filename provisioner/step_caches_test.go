package provisioner

import (
	"slices"
	"strings"
	"testing"
)

func TestScriptsCaches(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		removed := []string{"/tmp/script_123.sh", "/tmp/.hidden", "/tmp/build", "/var/tmp/cache.bin",
			"/var/cache/apt/archives/openssl_3.0.deb", "/var/cache/apt/archives/partial/x.deb", "/var/cache/apt/pkgcache.bin",
			"/var/cache/dnf/updates", "/var/crash/core.1", "/etc/passwd-", "/etc/shadow-", "/etc/gshadow-"}
		kept := []string{"/tmp/systemd-private-abc-chronyd.service-x/tmp/f", "/tmp/.X11-unix/X0", "/var/tmp/keep-me/data",
			"/var/cache/apt/archives/lock", "/etc/passwd", "/var/lib/apt/lists/deb.debian.org_Release", "/var/cache/man/index.db"}
		// Build caches in the homes of root and users (directories).
		for _, p := range []string{"/root/.cache/pip", "/home/admin/.cache/go-build", "/home/alice/.npm/_cacache"} {
			g.file(p+"/00/entry", "cached")
			removed = append(removed, p)
		}
		kept = append(kept, "/home/admin/.cache/other/x", "/home/alice/.npm/_logs/debug.log", "/srv/app/.cache/pip/x")
		dirs := map[string]bool{"/tmp/build": true, "/var/cache/dnf/updates": true, "/root/.cache/pip": true, "/home/admin/.cache/go-build": true, "/home/alice/.npm/_cacache": true}
		for _, p := range removed {
			switch {
			case p == "/tmp/build" || p == "/var/cache/dnf/updates":
				g.file(p+"/inner", "x")
			case !dirs[p]:
				g.file(p, "x")
			}
		}
		for _, p := range kept {
			g.file(p, "x")
		}
		g.file("etc/passwd", passwd) // a kept file, whose homes count
		// A filesystem mounted under /tmp: rm -rf would cross into it.
		g.file("/tmp/mnt/disk/data", "on another filesystem")
		kept = append(kept, "/tmp/mnt/disk/data")
		g.file("proc/mounts", "/dev/vda / ext4 rw 0 0\n/dev/vdb /tmp/mnt/disk ext4 rw 0 0\n")
		env := []envVar{{"AMIH_EXCLUDE", "/var/tmp/keep-me"}, {"AMIH_PACKAGE_LISTS", "0"}}
		want := make([]string, len(removed))
		for i, p := range removed {
			want[i] = p
			if dirs[p] {
				want[i] += "/"
			}
		}
		res := g.run("caches.sh", env...)
		if res.code != 0 || !slices.Equal(res.targets("remove"), sorted(want...)) {
			t.Fatalf("code %d, removed %v, want %v\n%s", res.code, res.targets("remove"), sorted(want...), res.other)
		}
		if w := res.kind("warn"); len(w) != 1 || !strings.Contains(w[0].field(0), "/tmp/mnt alone: a filesystem is mounted in it") {
			t.Errorf("warnings %v", w)
		}
		g.allGone(removed)
		g.allKept(kept)
		if again := g.run("caches.sh", env...); len(again.kind("change")) != 0 {
			t.Errorf("second run changed %v", again.kind("change"))
		}
		lists := g.run("caches.sh", envVar{"AMIH_PACKAGE_LISTS", "1"})
		if !slices.Equal(lists.targets("remove"), []string{"/var/lib/apt/lists/deb.debian.org_Release", "/var/tmp/keep-me/"}) {
			t.Errorf("remove_package_lists: %v", lists.targets("remove"))
		}
	})
}
