package provisioner

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

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
					if !slices.Equal(res.targets("empty"), []string{"/var/mail/admin"}) {
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
