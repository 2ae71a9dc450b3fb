package provisioner

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/shellquote"
)

// The guest scripts run here on the host, under dash and under busybox ash,
// against a directory tree given as AMIH_ROOT, with a PATH that holds only an
// allowlist of basic tools and the shim commands of each test (fake
// systemctl, apt-get, dnf, postqueue, ...). That is how the branches for
// distributions other than the e2e guest's Debian are tested: with shims.

// basicTools are the only host commands a script test can reach.
var basicTools = []string{"awk", "sed", "grep", "rm", "cat", "head", "tail", "find", "sort", "tr",
	"wc", "id", "basename", "dirname", "mktemp", "xargs", "cut", "ls", "sleep", "timeout", "touch",
	"mkdir", "env", "uname", "expr", "printf", "test", "true", "false", "chmod", "sh", "ln", "cp", "getconf", "mv", "od", "setsid", "dd", "df", "stat", "chown", "sync"}

// testShell is one POSIX shell the scripts must run under.
type testShell struct {
	name string
	argv []string // the shell command, the script path follows
	// tool links a basic tool into bin.
	tool func(bin, name string) error
}

func shells(t *testing.T) []testShell {
	t.Helper()
	var out []testShell
	if dash, err := exec.LookPath("dash"); err == nil {
		out = append(out, testShell{name: "dash", argv: []string{dash}, tool: func(bin, name string) error {
			if name == "sh" {
				return os.Symlink(dash, filepath.Join(bin, name))
			}
			p, err := exec.LookPath(name)
			if err != nil {
				return nil // not every host has every tool; the script must cope
			}
			return os.Symlink(p, filepath.Join(bin, name))
		}})
	}
	if bb, err := exec.LookPath("busybox"); err == nil {
		list, _ := exec.Command(bb, "--list").Output()
		applets := map[string]bool{}
		for _, name := range strings.Fields(string(list)) {
			applets[name] = true
		}
		out = append(out, testShell{name: "busybox", argv: []string{bb, "sh"}, tool: func(bin, name string) error {
			if !applets[name] {
				return nil // not an applet of this busybox: missing, as on such a guest
			}
			return os.Symlink(bb, filepath.Join(bin, name))
		}})
	}
	if len(out) < 2 {
		t.Fatalf("the script tests need dash and busybox (apt-get install dash busybox; make e2e-deps does it)")
	}
	return out
}

// guestTree is a fake guest root filesystem plus a bin directory of shims.
type guestTree struct {
	t     *testing.T
	root  string
	bin   string
	state string // shims keep their state here
	shell testShell
	// prelude runs before the script (e.g. a file size limit that stands
	// for a full disk).
	prelude string
}

// hangLimit stops a script run that hangs (a defect the hang tests look
// for): far longer than any script here needs, far shorter than the waits
// the hostile commands of those tests would cause.
const hangLimit = 2 * time.Minute

func newGuestTree(t *testing.T, sh testShell) *guestTree {
	t.Helper()
	dir := t.TempDir()
	g := &guestTree{t: t, root: filepath.Join(dir, "root"), bin: filepath.Join(dir, "bin"), state: filepath.Join(dir, "state"), shell: sh}
	for _, d := range []string{g.root, g.bin, g.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range basicTools {
		if err := sh.tool(g.bin, tool); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// file writes a file under the fake root.
func (g *guestTree) file(path, content string) {
	g.t.Helper()
	full := filepath.Join(g.root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// symlink makes path (under the root) a link to target (taken as is).
func (g *guestTree) symlink(path, target string) {
	g.t.Helper()
	full := filepath.Join(g.root, path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		g.t.Fatal(err)
	}
}

func (g *guestTree) dir(path string) {
	g.t.Helper()
	if err := os.MkdirAll(filepath.Join(g.root, path), 0o755); err != nil {
		g.t.Fatal(err)
	}
}

// exists tells whether path exists under the root (links not followed).
func (g *guestTree) exists(path string) bool {
	_, err := os.Lstat(filepath.Join(g.root, path))
	return err == nil
}

// shim installs a fake command: a sh script that sees $STATE (the state
// directory) and $ROOT.
func (g *guestTree) shim(name, body string) {
	g.t.Helper()
	// Remove a basic tool of the same name first.
	_ = os.Remove(filepath.Join(g.bin, name))
	script := "#!/bin/sh\nSTATE=" + shellquote.Quote(g.state) + "\nROOT=" + shellquote.Quote(g.root) + "\necho \"$0 $*\" | sed 's|.*/||' >>\"$STATE/calls\"\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(g.bin, name), []byte(script), 0o755); err != nil {
		g.t.Fatal(err)
	}
}

// calls returns the shim invocations, one per line ("name args").
func (g *guestTree) calls() []string {
	data, _ := os.ReadFile(filepath.Join(g.state, "calls"))
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func (g *guestTree) called(prefix string) bool {
	for _, c := range g.calls() {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

// scriptRun is the outcome of one script run.
type scriptRun struct {
	records   []record
	other     string
	code      int
	completed bool // the completion record came
}

func (r scriptRun) kind(kind string) []record {
	var out []record
	for _, rec := range r.records {
		if rec.Kind == kind {
			out = append(out, rec)
		}
	}
	return out
}

// text joins the first fields of the run's records of a kind, a line each.
func (r scriptRun) text(kind string) string {
	var b strings.Builder
	for _, rec := range r.kind(kind) {
		b.WriteString(rec.field(0) + "\n")
	}
	return b.String()
}

// targets lists the targets of the change records with the given verb.
func (r scriptRun) targets(verb string) []string {
	var out []string
	for _, rec := range r.kind("change") {
		if rec.field(0) == verb {
			out = append(out, rec.field(1))
		}
	}
	sort.Strings(out)
	return out
}

// facts maps the fact records' keys to their values.
func (r scriptRun) facts() map[string]string {
	out := map[string]string{}
	for _, rec := range r.kind("fact") {
		out[rec.field(0)] = rec.field(1)
	}
	return out
}

func (r scriptRun) count(name string) (string, bool) {
	for _, rec := range r.kind("count") {
		if rec.field(0) == name {
			return rec.field(1), true
		}
	}
	return "", false
}

// run runs a step script with env, the way the plugin assembles it: the
// run's own inputs (runInputs) and, for a step's script, AMIH_OVERWRITE as
// its stepDef says and no guest helper (stepScript), then env, which may
// override them.
func (g *guestTree) run(script string, env ...envVar) scriptRun {
	g.t.Helper()
	base := append([]envVar{{"AMIH_ROOT", g.root}}, runInputs(runOptions{})...)
	for _, def := range catalogue {
		if def.script() == script {
			base = append(base, envVar{"AMIH_OVERWRITE", flag(def.Secrets)})
			base = append(base, exportedHelper(def).env()...)
		}
	}
	env = append(base, env...)
	path := filepath.Join(g.state, "script.sh")
	if err := os.WriteFile(path, []byte(g.prelude+scriptBody(env, script)), 0o644); err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, g.shell.argv[0], append(g.shell.argv[1:], path)...)
	cmd.WaitDelay = 5 * time.Second // a child holding the output open must not hold the test
	cmd.Env = []string{"PATH=" + g.bin, "HOME=" + g.state, "TMPDIR=" + g.state}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := scriptRun{}
	if ctx.Err() != nil {
		g.t.Errorf("%s hung: stopped after %s", script, hangLimit)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		g.t.Fatal(err)
	}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if rec, ok := parseRecord(line); ok && rec.Kind == "done" {
			res.completed = true
		} else if ok {
			res.records = append(res.records, rec)
		} else if line != "" {
			res.other += line + "\n"
		}
	}
	res.other += stderr.String()
	if res.code == 0 && !res.completed {
		g.t.Errorf("%s exited 0 without its completion record", script)
	}
	return res
}

// output runs script with `sh -c` under this shell (no fake root, no
// shims) and returns its standard output: the one way tests run a bare
// snippet; step scripts run through guestTree.run.
func (sh testShell) output(script string) (string, error) {
	out, err := exec.Command(sh.argv[0], append(sh.argv[1:], "-c", script)...).Output()
	return string(out), err
}

// forEachShell runs fn as a subtest under every shell.
func forEachShell(t *testing.T, fn func(t *testing.T, g *guestTree)) {
	for _, sh := range shells(t) {
		sh := sh
		t.Run(sh.name, func(t *testing.T) { fn(t, newGuestTree(t, sh)) })
	}
}

// sorted returns its arguments in order.
func sorted(items ...string) []string { return slices.Sorted(slices.Values(items)) }

const passwd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
admin:x:1000:1000:Debian:/home/admin:/bin/bash
alice:x:1001:1001::/home/alice:/bin/zsh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`

// read returns a file's content under the fake root ("<missing>" when absent).
func (g *guestTree) read(path string) string {
	data, err := os.ReadFile(filepath.Join(g.root, path))
	if err != nil {
		return "<missing>"
	}
	return string(data)
}

const shadow = `root:$6$salt$hash:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
admin:!:19000:0:99999:7:::
alice::19000:0:99999:7:::
`

// alive tells whether the process pid (a host process a script started)
// still runs.
func (g *guestTree) alive(pid string) bool {
	_, err := os.Stat("/proc/" + pid)
	return err == nil
}

// kill ends a process a script left behind.
func (g *guestTree) kill(pid string) {
	if n, err := strconv.Atoi(pid); err == nil {
		if p, err := os.FindProcess(n); err == nil {
			p.Kill()
		}
	}
}

// allGone fails the test for every path (under the root) still there.
func (g *guestTree) allGone(paths []string) {
	g.t.Helper()
	for _, p := range paths {
		if g.exists(p) {
			g.t.Errorf("%s is still there", p)
		}
	}
}

// allKept fails the test for every path (under the root) that is gone.
func (g *guestTree) allKept(paths []string) {
	g.t.Helper()
	for _, p := range paths {
		if !g.exists(p) {
			g.t.Errorf("%s was removed", p)
		}
	}
}
