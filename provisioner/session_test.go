package provisioner

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// localComm runs commands on this machine with a real shell (dash or
// busybox ash), their standard input, output and error streamed as the SSH
// communicator does: the boot's shell (session.go) is tested against a real
// sh, not a fake.
type localComm struct {
	sh  testShell
	tmp string // the shell's TMPDIR: a killed shell leaves its script there
	// path, when set, is the commands' PATH (shims first).
	path string
	// sharedGroup: commands stay in the test's own process group (a
	// communicator that starts no session for them).
	sharedGroup bool

	mu     sync.Mutex
	starts []string
	procs  []*os.Process
}

func (c *localComm) Start(_ context.Context, cmd *packersdk.RemoteCmd) error {
	// The boot's shell is the shell itself (as sudo's child on a guest), so
	// that killing it kills the shell and nothing else.
	argv := append(append([]string{}, c.sh.argv...), "-c", cmd.Command)
	if cmd.Command == sessionCommand {
		argv = append(append([]string{}, c.sh.argv...), "-s")
	}
	p := exec.Command(argv[0], argv[1:]...)
	// Its own process group, as a session's command on a guest (sshd
	// starts a session for it): the deadline's TERM to the group stays in
	// it.
	p.SysProcAttr = &syscall.SysProcAttr{Setpgid: !c.sharedGroup}
	p.Stdout, p.Stderr = cmd.Stdout, cmd.Stderr
	p.Env = append(os.Environ(), "TMPDIR="+c.tmp)
	if c.path != "" {
		p.Env = append(p.Env, "PATH="+c.path)
	}
	// As the SSH communicator: the process's exit does not wait for its
	// input to end.
	var stdin io.WriteCloser
	if cmd.Stdin != nil {
		var err error
		if stdin, err = p.StdinPipe(); err != nil {
			return err
		}
	}
	if p.Stdout == nil {
		p.Stdout = io.Discard
	}
	if p.Stderr == nil {
		p.Stderr = io.Discard
	}
	if err := p.Start(); err != nil {
		return err
	}
	if stdin != nil {
		go func() {
			io.Copy(stdin, cmd.Stdin)
			stdin.Close()
		}()
	}
	c.mu.Lock()
	c.starts = append(c.starts, cmd.Command)
	c.procs = append(c.procs, p.Process)
	c.mu.Unlock()
	go func() {
		err := p.Wait()
		status := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			status = exit.ExitCode()
			if status < 0 {
				status = 128 + int(exit.Sys().(syscall.WaitStatus).Signal())
			}
		}
		cmd.SetExited(status)
	}()
	return nil
}

func (c *localComm) Upload(string, io.Reader, *os.FileInfo) error { return errors.New("no uploads") }
func (c *localComm) UploadDir(string, string, []string) error     { return errors.New("no uploads") }
func (c *localComm) Download(string, io.Writer) error             { return errors.New("no downloads") }
func (c *localComm) DownloadDir(string, string, []string) error   { return errors.New("no downloads") }

// TestSessionOneShellForEveryScript (issue 26): scripts sent to the boot's
// shell, under dash and busybox ash, each with its records, its status and
// its completion, through one session; a script's text is never on a
// command line; a line that looks like a frame's end in a script is its
// text; a deadline ends a script and the shell goes on; a script without
// its completion record is not counted as run; the shell killed in the
// middle of a script fails that script clearly and the next opens a shell
// again.
func TestSessionOneShellForEveryScript(t *testing.T) {
	defer func(d time.Duration) { deadlineGrace = d }(deadlineGrace)
	deadlineGrace = 5 * time.Second
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			g, comm, run := rootShell(t, sh)
			ctx := context.Background()
			for i, script := range []string{
				"rec fact one 1",
				"rec fact two \"$(id -u)\"\nfail 'stop here'",
				"cat <<'EOF'\nAMIH_END_0123456789abcdef01234567\nEOF\nrec fact three 3",
			} {
				recs, status, err := run(script, time.Minute)
				if i == 1 {
					if status != 1 || err != nil || len(recs) != 2 || recs[1].Kind != "error" {
						t.Errorf("a failing script: status %d, err %v, records %v", status, err, recs)
					}
					continue
				}
				if status != 0 || err != nil || len(recs) != 1 || recs[0].Kind != "fact" {
					t.Errorf("script %d: status %d, err %v, records %v", i, status, err, recs)
				}
			}
			// What a script starts does not hold the frame's descriptor:
			// a background child looks at its own descriptors (a program
			// such as sleep opens files of its own at start, locale data
			// on descriptor 3 among them: looking at it from outside
			// failed under load).
			if recs, _, err := run(`( if [ -e /proc/self/fd/3 ]; then rec fact fd3 open; else rec fact fd3 closed; fi ) & wait "$!"`, time.Minute); err != nil || len(recs) != 1 || recs[0].field(1) != "closed" {
				t.Errorf("a script's child and descriptor 3: %v %v", recs, err)
			}
			if _, _, err := run("sleep 30", time.Second); !errors.Is(err, errDeadline) {
				t.Errorf("a script past its deadline: %v", err)
			}
			if _, err := g.execute(ctx, "exit 0\n", time.Minute, func(record) {}); !errors.Is(err, errNotRun) {
				t.Errorf("a script without its completion record: %v", err)
			}
			if recs, status, err := run("rec fact after 1", time.Minute); status != 0 || err != nil || len(recs) != 1 {
				t.Errorf("the shell after a deadline: %d %v %v", status, err, recs)
			}
			if len(comm.starts) != 1 || comm.starts[0] != sessionCommand {
				t.Errorf("sessions %q, want one %q", comm.starts, sessionCommand)
			}
			// The shell killed while a script runs.
			go func() {
				time.Sleep(500 * time.Millisecond)
				comm.mu.Lock()
				comm.procs[0].Kill()
				comm.mu.Unlock()
			}()
			if _, _, err := run("sleep 3", time.Minute); !errors.Is(err, errShellDied) || !strings.Contains(err.Error(), "did not finish") {
				t.Errorf("the shell killed mid-script: %v", err)
			}
			if recs, status, err := run("rec fact again 1", time.Minute); status != 0 || err != nil || len(recs) != 1 || len(comm.starts) != 2 {
				t.Errorf("after the shell died: %d %v %v, sessions %q", status, err, recs, comm.starts)
			}
			// The scripts reached sh through a descriptor: no file was
			// made, none is left by the killed shell.
			if left, _ := os.ReadDir(comm.tmp); len(left) > 0 {
				t.Errorf("left in the shell's TMPDIR: %v", left)
			}
			g.dropSession()
		})
	}
}

// TestSessionDecidesSudo (issue 26): where use_sudo is not set, the first
// shell's own command line decides — root runs sh, anyone else `sudo -n sh`
// — and says which, so the probe needs no session of its own; a sudo that
// wants a password or is missing is named. Real dash and busybox ash, with
// shims for id (uid 1000 unless sudo's SUDO_UID is set) and sudo.
func TestSessionDecidesSudo(t *testing.T) {
	for _, sh := range shells(t) {
		for _, tc := range []struct {
			name     string
			id, sudo string // shim bodies; no sudo where ""
			wantSudo bool
			wantErr  string
		}{
			{"root", `echo 0`, "", false, ""},
			{"user with sudo", `if [ -n "$SUDO_UID" ]; then echo 0; else echo 1000; fi`, `shift; SUDO_UID=1000 exec "$@"`, true, ""},
			{"sudo wants a password", `echo 1000`, `echo 'sudo: a password is required' >&2; exit 1`, false, "use_sudo: `sudo -n` does not work (exit status 1"},
			{"sudo is missing", `echo 1000`, "", false, "`sudo` is not on the build user's PATH"},
			{"sudo does not make root", `echo 1000`, `shift; SUDO_UID=1000 exec "$@"`, true, "runs as uid \"1000\", not 0"},
		} {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				bin := t.TempDir()
				for _, tool := range []string{"sh", "timeout", "printf", "cat"} {
					if err := sh.tool(bin, tool); err != nil {
						t.Fatal(err)
					}
				}
				// The shims run under this machine's sh, whoever runs the test.
				for name, body := range map[string]string{"id": tc.id, "sudo": tc.sudo} {
					if body == "" {
						continue
					}
					if err := os.WriteFile(bin+"/"+name, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				comm := &localComm{sh: sh, tmp: t.TempDir(), path: bin}
				g := &guest{comm: comm, ui: packersdk.TestUi(t), shell: true}
				err := g.openShell(context.Background())
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error %v, want %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer g.dropSession()
				if !g.sudoKnown || g.sudo != tc.wantSudo || !g.heredoc {
					t.Errorf("sudo known %v, sudo %v (want %v), here-document %v", g.sudoKnown, g.sudo, tc.wantSudo, g.heredoc)
				}
				if len(comm.starts) != 1 || comm.starts[0] != sessionAutoCommand {
					t.Errorf("sessions %q", comm.starts)
				}
				// The next boot's shell is opened the decided way.
				want := sessionCommand
				if tc.wantSudo {
					want = "sudo -n " + sessionCommand
				}
				if got := g.sessionCommandLine(); got != want {
					t.Errorf("the next shell's command %q, want %q", got, want)
				}
			})
		}
	}
}

// TestSessionFallsBackWhereNoShellStays (issue 26): a communicator whose
// sessions cannot keep their input open runs each script in a session of
// its own, checks sudo the old way, and the report says so.
func TestSessionFallsBackWhereNoShellStays(t *testing.T) {
	g := &fakeGuest{}
	dir := t.TempDir()
	p := &Provisioner{}
	if err := p.Prepare(map[string]interface{}{"steps": []string{"shell_history"}, "report_path": dir + "/r.json"}); err != nil {
		t.Fatal(err)
	}
	comm := &fakeComm{reply: g.reply, noShell: true}
	if err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil); err != nil {
		t.Fatal(err)
	}
	var sudoCheck, perScript bool
	for _, c := range comm.calls() {
		sudoCheck = sudoCheck || c.Command == sudoCheckCommand
		perScript = perScript || stepOf(c) == "shell_history" && strings.HasPrefix(c.Command, "sudo -n sh -c ")
	}
	if !sudoCheck || !perScript {
		t.Errorf("sudo checked %v, a session a script %v: %v", sudoCheck, perScript, comm.calls())
	}
	data, _ := os.ReadFile(dir + "/r.json")
	if !strings.Contains(string(data), `"transport": "one session a script (the communicator cannot keep a shell open`) {
		t.Errorf("the report does not say how scripts ran:\n%s", data)
	}
}

// TestSessionNeedsItsOwnProcessGroup (issue 26): a shell that shares its
// process group with other processes (here, the test's own: a communicator
// that starts no session for its commands) is not kept, since the
// deadline's TERM goes to that group: opening it says errNoShell, on which
// the run gives each script a session of its own
// (TestSessionFallsBackWhereNoShellStays). Real dash and busybox ash.
func TestSessionNeedsItsOwnProcessGroup(t *testing.T) {
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			for _, shared := range []bool{false, true} {
				comm := &localComm{sh: sh, tmp: t.TempDir(), sharedGroup: shared}
				g := &guest{comm: comm, ui: packersdk.TestUi(t), shell: true, sudoKnown: true}
				err := g.openShell(context.Background())
				switch {
				case !shared && err != nil:
					t.Errorf("a shell that leads its group: %v", err)
				case shared && (!errors.Is(err, errNoShell) || !strings.Contains(err.Error(), "process group")):
					t.Errorf("a shell in the test's own group: %v, want errNoShell", err)
				}
				g.dropSession()
			}
		})
	}
}

// TestSessionFrameBothWays: the frame runs a script from the
// here-document's descriptor (/dev/fd/3) and, where the boot's probe found
// that sh cannot open it, from a private temporary file that is removed
// afterwards; either way with no standard input (a script that reads it
// gets nothing of the frame), with its status said with the token, under
// dash and busybox ash.
func TestSessionFrameBothWays(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	for _, sh := range shells(t) {
		for _, probe := range []string{"amih_p=1", "amih_p="} {
			t.Run(sh.name+"/"+probe, func(t *testing.T) {
				tmp := t.TempDir()
				body := "echo \"script $(cat)\"\nexit 3\n"
				in := sessionFunctions + probe + "\n" + sessionFrame(token, time.Minute, body) + "echo after\n"
				p := exec.Command(sh.argv[0], append(sh.argv[1:], "-s")...)
				p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				p.Stdin = strings.NewReader(in)
				p.Env = append(os.Environ(), "TMPDIR="+tmp)
				out, err := p.CombinedOutput()
				want := "script \n" + sessionPrefix + "exit\t" + token + "\t3\nafter\n"
				if err != nil || string(out) != want {
					t.Errorf("output %q (%v), want %q", out, err, want)
				}
				if left, _ := os.ReadDir(tmp); len(left) > 0 {
					t.Errorf("left in TMPDIR: %v", left)
				}
			})
		}
	}
}

// TestSessionDeadlineEndsTheScriptsProcesses (issue 26): the boot shell
// keeps a script's deadline itself (no `timeout`, no new sh a step): at the
// deadline TERM goes to the script and what it started; what ignores TERM
// is killed 10 s later; either way the step fails as past its deadline and
// the same shell runs the next script. A script that ends in time leaves
// no watch (no `sleep`) behind. Real dash and busybox ash.
func TestSessionDeadlineEndsTheScriptsProcesses(t *testing.T) {
	defer func(d time.Duration) { deadlineGrace = d }(deadlineGrace)
	deadlineGrace = 20 * time.Second
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			g, comm, runRecords := rootShell(t, sh)
			defer g.dropSession()
			run := func(script string, deadline time.Duration) (int, error) {
				_, status, err := runRecords(script, deadline)
				return status, err
			}
			for i := 0; i < 5; i++ {
				if status, err := run("rec fact quick 1", time.Hour); status != 0 || err != nil {
					t.Fatalf("a quick script: %d %v", status, err)
				}
			}
			comm.mu.Lock()
			shell := comm.procs[0].Pid
			comm.mu.Unlock()
			// The watches' sleeps are gone as soon as their scripts ended.
			if left := groupMembers(t, shell); len(left) != 1 {
				t.Errorf("after five quick scripts the shell's group holds %v, want the shell alone", left)
			}
			for _, tc := range []struct {
				name, script string
				status       int
			}{
				{"TERM", `sleep 300 & echo "$!" >"$TMPDIR/child"; wait`, 143},
				{"KILL", `trap '' TERM; sh -c 'trap "" TERM; sleep 300' & echo "$!" >"$TMPDIR/child"; while :; do wait; done`, 137},
			} {
				start := time.Now()
				status, err := run(tc.script, time.Second)
				if !errors.Is(err, errDeadline) || status != tc.status {
					t.Errorf("%s: status %d, err %v; want %d and the deadline", tc.name, status, err, tc.status)
				}
				t.Logf("%s: ended after %s", tc.name, time.Since(start).Round(time.Millisecond))
				if left := groupMembers(t, shell); len(left) != 1 {
					t.Errorf("%s: after the deadline the shell's group holds %v, want the shell alone", tc.name, left)
				}
			}
			if status, err := run("rec fact after 1", time.Minute); status != 0 || err != nil || len(comm.starts) != 1 {
				t.Errorf("the same shell after the deadlines: %d %v, sessions %q", status, err, comm.starts)
			}
		})
	}
}

// rootShell is a guest whose boot shell is sh on this machine (sudo
// decided: none), and run, which sends it lib.sh and script with deadline
// and returns the script's records, status and error.
func rootShell(t *testing.T, sh testShell) (*guest, *localComm, func(script string, deadline time.Duration) ([]record, int, error)) {
	comm := &localComm{sh: sh, tmp: t.TempDir()}
	g := &guest{comm: comm, ui: packersdk.TestUi(t), shell: true, sudoKnown: true}
	run := func(script string, deadline time.Duration) ([]record, int, error) {
		var recs []record
		status, err := g.execute(context.Background(), scriptText("lib.sh")+script+"\n", deadline, func(r record) { recs = append(recs, r) })
		return recs, status, err
	}
	return g, comm, run
}

// groupMembers lists the live processes of process group pgid (pid and
// name), read from /proc, once those that are dying are gone: a process
// KILLed whose parent died first is reaped by pid 1, not at once (under load
// it was still listed). It waits for that at most 10 s (a bound, not a
// timing: a process that stays is listed).
func groupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	var out []string
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out = groupMembersNow(t, pgid)
		if len(out) <= 1 || time.Now().After(end) {
			return out
		}
	}
}

// groupMembersNow lists the live processes of process group pgid now.
func groupMembersNow(t *testing.T, pgid int) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(s[end+1:])
		// A zombie is gone already (this machine's pid 1 reaps late).
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			out = append(out, strings.TrimSpace(s[:open])+" "+s[open+1:end])
		}
	}
	return out
}

// TestSessionShellPassesShellcheck: the boot shell's own text (its
// opening, functions, a frame and the boot poll) is POSIX sh that shellcheck accepts, as
// the step scripts are (scripts/shellcheck.sh cannot see Go strings).
func TestSessionShellPassesShellcheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "session.sh")
	poll := (&guest{sudo: true}).bootShellCommand()
	inner, ok := strings.CutPrefix(poll, "sh -c '")
	if !ok || !strings.HasSuffix(inner, "'") || strings.Count(inner, "'") != 1 {
		t.Fatalf("the boot poll's command line is not one quoted sh -c: %s", poll)
	}
	text := "#!/bin/sh\n" + sessionOpening(newToken()) + sessionFrame(newToken(), time.Minute, "echo step\n") + commandFrame(newToken(), shellRebootCommand) +
		strings.TrimSuffix(inner, "'") + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("shellcheck", "-s", "sh", path).CombinedOutput(); err != nil {
		t.Errorf("shellcheck (make e2e-deps installs it): %v\n%s", err, out)
	}
}

// TestSessionBootPollOpensTheNewBootsShell (issue 26): after a reboot, the
// poll for the new boot (bootShellCommand, real dash and busybox ash, a
// sudo shim) says the boot id; in the old boot it ends there, without
// sudo; in a new one it becomes that boot's root shell, through sudo,
// which then runs scripts. The old boot id goes on its standard input,
// never on its command line.
func TestSessionBootPollOpensTheNewBootsShell(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Fatal(err)
	}
	current := strings.TrimSpace(string(data))
	for _, sh := range shells(t) {
		for _, tc := range []struct {
			name, old string
			newBoot   bool
		}{
			{"old boot", current, false},
			{"new boot", "00000000-0000-0000-0000-000000000000", true},
			// A boot id of more than one line (the guest's text): only
			// its first line reaches the poll, never the new shell.
			{"new boot, old id of two lines", "00000000\n: >\"$AMIH_MARKS/ran\"", true},
		} {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				bin, marks := t.TempDir(), t.TempDir()
				t.Setenv("AMIH_MARKS", marks)
				for _, tool := range []string{"sh", "printf", "cat"} {
					if err := sh.tool(bin, tool); err != nil {
						t.Fatal(err)
					}
				}
				for name, body := range map[string]string{
					"id":   `if [ -n "$SUDO_UID" ]; then echo 0; else echo 1000; fi`,
					"sudo": `: >>"` + marks + `/sudo"; shift; SUDO_UID=1000 exec "$@"`,
				} {
					if err := os.WriteFile(bin+"/"+name, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				comm := &localComm{sh: sh, tmp: t.TempDir(), path: bin}
				g := &guest{comm: comm, ui: packersdk.TestUi(t), shell: true, sudo: true, sudoKnown: true}
				var a bootAnswer
				select {
				case a = <-g.startBootPoll(context.Background(), tc.old):
				case <-time.After(time.Minute):
					t.Fatal("no answer from the boot poll")
				}
				if a.id != current {
					t.Errorf("boot id %q, want %q (err %v)", a.id, current, a.err)
				}
				_, statErr := os.Stat(marks + "/sudo")
				if !tc.newBoot {
					if a.session != nil || !os.IsNotExist(statErr) {
						t.Errorf("the old boot: a shell %v, sudo ran: %v", a.session != nil, statErr == nil)
					}
					return
				}
				if a.err != nil || a.session == nil || statErr != nil {
					t.Fatalf("the new boot's shell: %v, session %v, sudo %v", a.err, a.session != nil, statErr)
				}
				g.session = a.session
				defer g.dropSession()
				var recs []record
				status, err := g.execute(context.Background(), scriptText("lib.sh")+"rec fact who \"$(id -u)\"\n", time.Minute, func(r record) { recs = append(recs, r) })
				if status != 0 || err != nil || len(recs) != 1 || recs[0].field(1) != "0" {
					t.Errorf("a script in the new boot's shell: %d %v %v", status, err, recs)
				}
				if len(comm.starts) != 1 || strings.Contains(comm.starts[0], tc.old) {
					t.Errorf("sessions %q", comm.starts)
				}
				if _, err := os.Stat(marks + "/ran"); err == nil {
					t.Errorf("the old boot id's second line ran in the new boot's shell")
				}
			})
		}
	}
}

// TestSessionNoSignalMessage (issue 36, item 9): the USR1 that stops a
// script's watch may reach it before its trap is set (then the watch dies
// of it, which is what it is for); no shell may then say "User defined
// signal 1" in the build's output. And a USR1 that comes between the
// watch's test and its wait must not leave the frame waiting for the
// watch's whole sleep (on the old code about 1 frame in 50 under dash did,
// here for the deadline of an hour: the bound below is a hang's, not a
// timing). 300 quick frames in one shell, under dash and busybox ash:
// every line is the frames' own.
func TestSessionNoSignalMessage(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			var in strings.Builder
			in.WriteString(sessionFunctions + "amih_p=1\n")
			const frames = 300
			for i := 0; i < frames; i++ {
				in.WriteString(sessionFrame(token, time.Hour, "exit 0\n"))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			p := exec.CommandContext(ctx, sh.argv[0], append(sh.argv[1:], "-s")...)
			p.Cancel = func() error { return syscall.Kill(-p.Process.Pid, syscall.SIGKILL) }
			p.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			p.Stdin = strings.NewReader(in.String())
			p.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
			out, err := p.CombinedOutput()
			want := strings.Repeat(sessionPrefix+"exit\t"+token+"\t0\n", frames)
			if err != nil || string(out) != want {
				var other []string
				for _, l := range strings.Split(string(out), "\n") {
					if l != "" && !strings.HasPrefix(l, sessionPrefix) {
						other = append(other, l)
					}
				}
				t.Errorf("%v (a frame hung: %v); lines that are not the frames': %q", err, ctx.Err() != nil, other)
			}
		})
	}
}

// TestSessionEndAfterAPartialLine (issue 36, item 12): a script whose
// output does not end with a newline (killed mid-line, or a service it
// started writing later) still ends as it did: its completion record and
// the frame's exit line are found after the partial line, which reaches the
// UI as a line of its own; on the old code the glued lines hid both and the
// plugin waited the deadline and its grace. Real dash and busybox ash.
func TestSessionEndAfterAPartialLine(t *testing.T) {
	defer func(d time.Duration) { deadlineGrace = d }(deadlineGrace)
	deadlineGrace = 5 * time.Second
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			var out bytes.Buffer
			g, _, run := rootShell(t, sh)
			g.ui = &packersdk.BasicUi{Writer: &out, ErrorWriter: &out}
			defer g.dropSession()
			recs, status, err := run("rec fact before 1\nprintf 'partial line'", 30*time.Second)
			if status != 0 || err != nil || len(recs) != 1 {
				t.Errorf("status %d, err %v, records %v", status, err, recs)
			}
			if !strings.Contains(out.String(), "partial line\n") {
				t.Errorf("the partial line did not reach the UI as a line: %q", out.String())
			}
			// The frame alone: a body that prints no newline before the
			// exit line (the completion record is the script's own).
			status, err = g.inSession(context.Background(), "0123456789abcdef0123456789abcdef",
				sessionFrame("0123456789abcdef0123456789abcdef", 30*time.Second, "printf 'no newline'; exit 4\n"), 30*time.Second, func(string) {})
			if status != 4 || err != nil {
				t.Errorf("the frame's exit line after a partial line: %d %v", status, err)
			}
		})
	}
}

// TestSessionForgedExitLine (issue 36, item 8): an exit line with another
// token, printed by a script, does not end its frame: the frame's own, with
// the script's status, does. Real dash and busybox ash.
func TestSessionForgedExitLine(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	for _, sh := range shells(t) {
		t.Run(sh.name, func(t *testing.T) {
			g, _, _ := rootShell(t, sh)
			defer g.dropSession()
			var lines []string
			body := "printf '" + sessionPrefix + "exit\\tffffffffffffffffffffffffffffffff\\t0\\n'; sleep 1; exit 5\n"
			status, err := g.inSession(context.Background(), token, sessionFrame(token, 30*time.Second, body), 30*time.Second,
				func(l string) { lines = append(lines, l) })
			if status != 5 || err != nil || len(lines) != 1 {
				t.Errorf("status %d, err %v, lines %q; want 5 and the forged line passed on", status, err, lines)
			}
		})
	}
}
