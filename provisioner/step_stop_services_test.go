package provisioner

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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
			if res.code != 0 || !slices.Equal(res.targets("stop"), []string{"myapp", "nginx"}) || !slices.Equal(res.targets("disable"), []string{"myapp"}) {
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
