package provisioner

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/shellquote"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// The defects of issue 13, one test each (numbered as there): each failed
// on the code before the fix.

// 1. A guest that runs nothing (the `none` communicator) fails before any
// step, and a script that exits 0 without its completion record fails its
// step: the report can never say clean for them.
func TestTrust1NothingRunIsNeverClean(t *testing.T) {
	_, rep, out, _, err := provisionRun(t, map[string]interface{}{}, &fakeGuest{ranNothing: true})
	if err == nil || !strings.Contains(err.Error(), `communicator "none"`) {
		t.Errorf("error %v, want one naming the none communicator", err)
	}
	if rep.Status != "failed" || rep.Verdict == VerdictClean || len(rep.Steps) != 0 {
		t.Errorf("status %s, verdict %s, %d steps:\n%s", rep.Status, rep.Verdict, len(rep.Steps), out)
	}
	_, rep, _, _, err = provisionRun(t, map[string]interface{}{"steps": []string{"shell_history", "audit"}},
		&fakeGuest{unfinished: map[string]bool{"audit": true}})
	if err == nil || !strings.Contains(err.Error(), "did not run the script") {
		t.Errorf("error %v, want the audit's missing completion record", err)
	}
	if rep.Verdict != VerdictNotAudited || rep.Status != "failed" {
		t.Errorf("an audit that did not finish: status %s, verdict %s", rep.Status, rep.Verdict)
	}
}

// 2. Names under /var/log that hold a newline are one path: they cannot make
// the logs step truncate or remove a file outside /var/log.
func TestTrust2LogNamesCannotReachOut(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/canary", "precious\n")
		g.file("etc/canary.1", "precious\n")
		// find prints "<root>/var/log/x\n<root>/etc/canary": split on the
		// newline, the second line is the canary outside /var/log.
		g.file(filepath.Join("var/log", "x\n"+g.root, "etc/canary"), "log\n")
		g.file(filepath.Join("var/log", "y\n"+g.root, "etc/canary.1"), "old log\n")
		res := g.run("logs.sh", envVar{"AMIH_KEEP_ROTATED", "0"}, envVar{"AMIH_KEEP_JOURNAL", "1"})
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		for _, p := range []string{"etc/canary", "etc/canary.1"} {
			if got := g.read(p); got != "precious\n" {
				t.Errorf("%s outside /var/log became %q", p, got)
			}
		}
		if got := g.read(filepath.Join("var/log", "x\n"+g.root, "etc/canary")); got != "" {
			t.Errorf("the log with a newline in its path was not truncated: %q", got)
		}
		if g.exists(filepath.Join("var/log", "y\n"+g.root, "etc/canary.1")) {
			t.Errorf("the rotated log with a newline in its path is still there")
		}
	})
}

// 3. Links that lead out of a home are not followed by a removal.
func TestTrust3LinksOutOfHomes(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		outside := []string{"srv/x/sso/cache/token.json", "srv/x/credentials", "srv/y/gcloud/credentials.db",
			"srv/y/fish/fish_history", "srv/z/share/fish/fish_history"}
		for _, p := range outside {
			g.file(p, "[default]\naws_secret_access_key = x\n")
		}
		g.dir("home/admin")
		g.symlink("home/admin/.aws", filepath.Join(g.root, "srv/x"))
		g.symlink("home/admin/.config", filepath.Join(g.root, "srv/y"))
		g.symlink("home/admin/.local", filepath.Join(g.root, "srv/z"))
		// A link that stays in the home is followed as before.
		g.file("home/alice/dotfiles/aws/credentials", "[default]\n")
		g.symlink("home/alice/.aws", "dotfiles/aws")
		creds := g.run("credentials.sh")
		hist := g.run("shell_history.sh")
		g.allKept(outside)
		if g.exists("home/alice/dotfiles/aws/credentials") {
			t.Errorf("a credential reached through a link inside the home was left")
		}
		if len(creds.kind("warn")) < 3 || len(hist.kind("warn")) < 2 {
			t.Errorf("the refused paths were not named: %v %v", creds.kind("warn"), hist.kind("warn"))
		}
	})
}

// 4. A mount point whose name holds a tab, newline, backslash or space is
// seen (every octal escape of /proc/mounts decoded): nothing crosses into it.
func TestTrust4MountNames(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		names := map[string]string{"a\tb": `a\011b`, "c\nd": `c\012d`, `e\f`: `e\134f`, "g h": `g\040h`}
		mounts := "/dev/vda / ext4 rw 0 0\n"
		for name, escaped := range names {
			g.file(filepath.Join("tmp", name, "data"), "on another filesystem")
			mounts += "tmpfs /tmp/" + escaped + " tmpfs rw 0 0\n"
		}
		g.file("proc/mounts", mounts)
		res := g.run("caches.sh", envVar{"AMIH_PACKAGE_LISTS", "0"})
		for name := range names {
			if !g.exists(filepath.Join("tmp", name, "data")) {
				t.Errorf("removed what is mounted on /tmp/%q", name)
			}
		}
		if w := res.kind("warn"); len(w) != len(names) {
			t.Errorf("warnings %v, want one per mount", w)
		}
	})
}

// 5. Extra history patterns apply only in real users' homes, so they cannot
// remove a system account's files (/usr/sbin, /var/www).
func TestTrust5PatternsOnlyInUserHomes(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		kept := []string{"usr/sbin/sshd", "var/www/index.html"}
		removed := []string{"/home/admin/index.html", "/root/sshd"}
		for _, p := range append(kept, removed...) {
			g.file(p, "x")
		}
		res := g.run("shell_history.sh", envVar{"AMIH_EXTRA_PATTERNS", "sshd\nindex.html"})
		g.allKept(kept)
		if !slices.Equal(res.targets("remove"), sorted(removed...)) {
			t.Errorf("removed %v, want %v", res.targets("remove"), removed)
		}
	})
}

// 6. No secret leaves the guest: a failing verify's output is redacted in
// the error, the UI, the report and the JUnit file, which are 0600.
func TestTrust6SecretsNeverLeave(t *testing.T) {
	token := "ghp_" + strings.Repeat("a1B2", 9)
	g := &fakeGuest{steps: map[string]string{"verify": "amih:output\t1\thttps://x-access-token:" + token + "@github.com/acme/app\namih:count\texit_1\t0\n"}}
	_, rep, out, dir, err := provisionRun(t, map[string]interface{}{
		"steps":  []string{"verify"},
		"verify": []map[string]interface{}{{"command": "git remote get-url origin", "expect_output": "^https://github.com/acme/app$"}},
	}, g)
	if err == nil {
		t.Fatal("the mismatch did not fail")
	}
	report, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	junit, _ := os.ReadFile(filepath.Join(dir, "junit.xml"))
	for name, text := range map[string]string{"error": err.Error(), "ui": out, "report": string(report), "junit": string(junit), "step error": rep.Steps[0].Error} {
		if strings.Contains(text, token) || strings.Contains(text, "x-access-token:") {
			t.Errorf("the token is in the %s", name)
		}
	}
	if !strings.Contains(err.Error(), "https://[REDACTED]@github.com/acme/app") {
		t.Errorf("the output is not shown redacted: %v", err)
	}
	for _, f := range []string{"report.json", "junit.xml"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}
}

// 7a. A verify command whose child keeps the output open is not waited for:
// the check ends with its command, and the child is killed with its group.
func TestTrust7VerifyChildKeepsOutputOpen(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		// The child records its pid before the command ends (and its session
		// is killed).
		cmd := `sh -c 'echo $$ >"$STATE_DIR/bg.tmp" && mv "$STATE_DIR/bg.tmp" "$STATE_DIR/bg"; exec sleep 300' & while [ ! -s "$STATE_DIR/bg" ]; do sleep 0.1; done; echo started`
		res := g.run("verify.sh", envVar{"AMIH_CHECK_COUNT", "1"}, envVar{"AMIH_CHECK_1_COMMAND", "export STATE_DIR=" + shellquote.Quote(g.state) + "; " + cmd},
			envVar{"AMIH_CHECK_1_AS_USER", ""}, envVar{"AMIH_CHECK_1_TIMEOUT", "60"})
		if out := res.kind("output"); len(out) != 1 || out[0].field(1) != "started" {
			t.Errorf("output %v", out)
		}
		pid := strings.TrimSpace(g.read("../state/bg"))
		if pid == "" || pid == "<missing>" {
			t.Fatalf("the check's background child did not record its pid")
		}
		// The kill is sent when the check ends; the child's exit is reaped
		// by init a moment later.
		for i := 0; i < 50 && g.alive(pid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if g.alive(pid) {
			g.kill(pid)
			t.Errorf("the check's background child %s outlived the check", pid)
		}
	})
}

// 7b. The mail flush runs inside flush_timeout: an MTA that delivers in the
// foreground for ever does not hold the step.
func TestTrust7MailFlushIsBounded(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		postfixShims(g, "2")
		g.shim("postqueue", `case $1 in -p) echo "-- 1 Kbytes in 2 Requests." ;; -f) exec sleep 300 ;; esac`)
		res := g.run("mail_queue.sh", envVar{"AMIH_FLUSH_TIMEOUT", "2"}, envVar{"AMIH_ON_TIMEOUT", "fail"})
		if res.code == 0 || len(res.kind("error")) == 0 || !strings.Contains(res.kind("error")[0].field(0), "still queued") {
			t.Errorf("code %d, errors %v", res.code, res.kind("error"))
		}
	})
}

// 7c. Every duration that bounds a wait must be more than 0.
func TestTrust7WaitsMustBePositive(t *testing.T) {
	for attr, raw := range map[string]map[string]interface{}{
		"update_packages.reboot_timeout": {"update_packages": map[string]interface{}{"reboot_timeout": "0s"}},
		"mail_queue.flush_timeout":       {"mail_queue": map[string]interface{}{"flush_timeout": "0s"}},
		"verify[0].command_timeout":      {"verify": []map[string]interface{}{{"command": "true", "command_timeout": "0s"}}},
		"wait_for_boot.boot_timeout":     {"wait_for_boot": map[string]interface{}{"boot_timeout": "0s"}},
		"step_timeouts.logs":             {"step_timeouts": map[string]string{"logs": "0s"}},
	} {
		if _, err := prepare(raw); err == nil || !strings.Contains(err.Error(), attr+": must be more than 0s") {
			t.Errorf("%s = 0s: %v", attr, err)
		}
	}
	if _, err := prepare(map[string]interface{}{"step_timeouts": map[string]string{"nope": "1m"}}); err == nil || !strings.Contains(err.Error(), `step_timeouts: unknown step "nope"`) {
		t.Errorf("unknown step in step_timeouts: %v", err)
	}
}

// 7d. Every step has a deadline of its own: a step that never ends fails the
// build when its deadline (and the grace) is over.
func TestTrust7StepDeadline(t *testing.T) {
	old := deadlineGrace
	deadlineGrace = 100 * time.Millisecond
	defer func() { deadlineGrace = old }()
	p, err := prepare(map[string]interface{}{"steps": []string{"logs"}, "step_timeouts": map[string]string{"logs": "1s"},
		"report_path": filepath.Join(t.TempDir(), "r.json")})
	if err != nil {
		t.Fatal(err)
	}
	comm := &fakeComm{reply: (&fakeGuest{}).reply, hang: "logs"}
	done := make(chan error, 1)
	go func() { done <- p.Provision(context.Background(), packersdk.TestUi(t), comm, nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not finish within its deadline") || !strings.Contains(err.Error(), "step_timeouts.logs") {
			t.Errorf("error %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a step that never ends held the build past its deadline")
	}
	var deadline string
	for _, c := range comm.calls() {
		if stepOf(c) == "logs" {
			deadline = c.Command + " " + c.Run
		}
	}
	if !strings.Contains(deadline, "amih__run 2;") {
		t.Errorf("the boot shell's watch does not carry the deadline: %s", deadline)
	}
}

// 8. On a full disk, access_policy leaves sshd_config exactly as it was.
func TestTrust8FullDiskKeepsConfig(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		original := "# the image's own configuration\n" + strings.Repeat("#"+strings.Repeat("x", 70)+"\n", 100) + "PasswordAuthentication yes\n"
		accessTree(g, original)
		// Files above 2 KiB cannot be written: a disk that fills up.
		g.prelude = "ulimit -f 4\ntrap '' XFSZ\n"
		res := g.run("access_policy.sh", append(accessEnv, envVar{"AMIH_LOCK_ROOT", "0"}, envVar{"AMIH_LOCK_EMPTY", "0"})...)
		if res.code == 0 {
			t.Errorf("writing on a full disk succeeded")
		}
		if got := g.read("etc/ssh/sshd_config"); got != original {
			t.Errorf("sshd_config changed on a full disk: %d bytes, was %d", len(got), len(original))
		}
		if left, _ := filepath.Glob(filepath.Join(g.root, "etc/ssh/.ami-hygiene.*")); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}

// 9. Guest text reaches the UI with its control characters escaped, and an
// endless line cannot grow the output buffer without bound.
func TestTrust9GuestTextIsShownSafely(t *testing.T) {
	g := &fakeGuest{steps: map[string]string{"shell_history": "amih:change\tremove\t/root/.\x1b]0;pwned\x07\x1b[2J_history\nplain \x1b[31mred\n"}}
	_, rep, out, _, err := provisionRun(t, map[string]interface{}{"steps": []string{"shell_history"}}, g)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\x07") || strings.Contains(rep.Steps[0].Actions[0].Target, "\x1b") {
		t.Errorf("raw control characters reached the UI or the report: %q", out)
	}
	if !strings.Contains(out, `\x1b[31mred`) {
		t.Errorf("the escaped text is not shown: %q", out)
	}
	var lines []string
	w := &lineWriter{fn: func(l string) { lines = append(lines, l) }}
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	for i := 0; i < 64; i++ { // 4 MiB without a newline
		w.Write(chunk)
		if len(w.buf) > maxLine {
			t.Fatalf("the line buffer holds %d bytes", len(w.buf))
		}
	}
	w.Write([]byte("\nnext\n"))
	if len(lines) != 2 || len(lines[0]) > maxLine+64 || !strings.Contains(lines[0], "line cut") || lines[1] != "next" {
		t.Errorf("%d lines, first %d bytes", len(lines), len(lines[0]))
	}
}
