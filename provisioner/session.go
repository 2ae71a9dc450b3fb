package provisioner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/retry"
)

// The guest's root shell: one a boot. The plugin opens one session with the
// fixed command line sessionCommand (through `sudo -n` where sudo is used:
// one sudo call, one line in auth.log, one "unable to resolve host" warning
// a boot) and sends each step's script to that shell's standard input in
// turn, framed by sessionFrame: the script reaches a subshell of the boot's
// shell through a here-document's descriptor (or, where /dev/fd cannot be
// opened, a private temporary file: probed once, when the shell starts) and
// runs with no standard input under a deadline the shell keeps itself
// (sessionFunctions), and the shell then prints the script's exit status
// with a marker of its own. The
// frame's delimiters and marker carry a token made for the execution, which
// the script never sees. No script text and none of a step's inputs ever
// reach a command line.

// sessionCommand is the session's command line; the guest's sh reads its
// commands from standard input.
const sessionCommand = "sh -s"

// sessionAutoCommand is the first session's command line where use_sudo is
// not set: the shell runs through `sudo -n` unless the SSH user is root
// (the ready line says which), so the probe needs no session of its own.
const sessionAutoCommand = `sh -c 'if [ "$(id -u)" = 0 ]; then exec sh -s; fi; exec sudo -n sh -s'`

// sessionCommandLine is the boot shell's command line: through sudo or not,
// or, before a shell has said whether it needed sudo, sessionAutoCommand.
func (g *guest) sessionCommandLine() string {
	switch {
	case !g.sudoKnown:
		return sessionAutoCommand
	case g.sudo:
		return "sudo -n " + sessionCommand
	}
	return sessionCommand
}

// sessionPrefix starts the lines the session shell prints itself (never a
// script: their token is not the script's).
const sessionPrefix = "amih-session:"

// errShellDied reports a session that ended while a script ran.
var errShellDied = errors.New("the guest's shell ended while the script ran: the step did not finish")

// shellSession is one open root shell on the guest.
type shellSession struct {
	stdin *io.PipeWriter
	ended chan struct{} // closed when the session's command has exited
	// status is the session's exit status, once ended is closed.
	status int
	mu     sync.Mutex
	// onLine receives the session's standard output, line by line.
	onLine func(string)
}

// line passes a line of the session's output to the current listener.
func (s *shellSession) line(l string) {
	s.mu.Lock()
	fn := s.onLine
	s.mu.Unlock()
	if fn != nil {
		fn(l)
	}
}

// listen sets the listener of the session's output lines.
func (s *shellSession) listen(fn func(string)) {
	s.mu.Lock()
	s.onLine = fn
	s.mu.Unlock()
}

// send writes text to the shell's standard input; it fails once the
// session has ended.
func (s *shellSession) send(text string) error {
	_, err := io.WriteString(s.stdin, text)
	return err
}

// close ends the shell's standard input: it exits once its current command
// is done.
func (s *shellSession) close() { s.stdin.Close() }

// dead tells whether the session has ended.
func (s *shellSession) dead() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

// errNoShell: the communicator cannot keep a shell's input open (the shell
// ended at once, or never answered): each script gets its own session.
var errNoShell = errors.New("the communicator cannot keep a shell open")

// openShell opens the boot's shell now (the probe does, to learn early
// whether sudo works and whether the transport keeps a shell open), again
// when the connection was cut while it opened.
func (g *guest) openShell(ctx context.Context) error {
	return retry.Config{
		Tries:       disconnectRetries,
		RetryDelay:  func() time.Duration { return 2 * time.Second },
		ShouldRetry: func(err error) bool { return errors.Is(err, errDisconnected) },
	}.Run(ctx, func(ctx context.Context) error {
		s, err := g.openSession(ctx)
		if err == nil {
			g.session = s
		}
		return err
	})
}

// openSession starts the boot's root shell and waits for its first words:
// who it runs as (root, or sudo did not make it root), whether sh can read
// a script from a here-document's descriptor, and whether it came through
// sudo. A sudo that wants a password ends the session before it says
// anything.
func (g *guest) openSession(ctx context.Context) (*shellSession, error) {
	return g.openSessionWith(ctx, g.sessionCommandLine(), "", nil)
}

// openSessionWith is openSession with another command line, which reads
// first (a line, or "") on its standard input before the shell starts
// there; its lines before the shell's ready line go to before (those it
// does not take, to the UI).
func (g *guest) openSessionWith(ctx context.Context, command, first string, before func(string) bool) (*shellSession, error) {
	reader, writer := io.Pipe()
	s := &shellSession{stdin: writer, ended: make(chan struct{})}
	out := &lineWriter{fn: s.line}
	errOut := &lineWriter{fn: g.show}
	// Until a shell has said whether it needed sudo, a failure to start is
	// read as sudo's.
	maybeSudo := g.sudo || !g.sudoKnown
	cmd := &packersdk.RemoteCmd{Command: command, Stdin: reader, Stdout: out, Stderr: errOut}
	if err := g.comm.Start(ctx, cmd); err != nil {
		return nil, fmt.Errorf("cannot run commands on the guest: %w", err)
	}
	go func() {
		status := cmd.Wait()
		out.Flush()
		errOut.Flush()
		s.status = status
		close(s.ended)
		// The communicator stops reading once the command has exited: a
		// write must fail then, not wait forever.
		reader.CloseWithError(errShellDied)
	}()
	token := newToken()
	ready := make(chan []string, 1)
	s.listen(func(line string) {
		if rest, ok := strings.CutPrefix(line, sessionPrefix+"ready\t"+token+"\t"); ok {
			ready <- strings.Split(rest, "\t")
			return
		}
		if before == nil || !before(line) {
			g.show(line)
		}
	})
	go s.send(first + sessionOpening(token))
	timer := time.NewTimer(pollDeadline)
	defer timer.Stop()
	select {
	case words := <-ready:
		s.listen(nil)
		if len(words) != 4 {
			s.close()
			return nil, fmt.Errorf("the guest's shell answered %q", strings.Join(words, " "))
		}
		if !g.sudoKnown {
			g.sudo, g.sudoKnown = words[2] == "sudo", true
		}
		g.heredoc = words[1] == "1"
		if g.sudo && words[0] != "0" {
			s.close()
			return nil, fmt.Errorf("use_sudo: `sudo -n sh` runs as uid %q, not 0: sudo does not make the build user root", guestText(words[0]))
		}
		if words[3] != "1" {
			// The deadline's TERM to the shell's group would reach
			// processes that are not the scripts'.
			s.close()
			return nil, fmt.Errorf("%w: the guest's shell shares its process group with the communicator's own processes", errNoShell)
		}
		return s, nil
	case <-s.ended:
		if maybeSudo && s.status == 127 {
			return nil, errors.New("use_sudo: `sudo` is not on the build user's PATH (exit status 127); install sudo, connect as root, or set use_sudo = false")
		}
		if maybeSudo && s.status != 0 && s.status != packersdk.CmdDisconnect {
			return nil, fmt.Errorf("use_sudo: `sudo -n` does not work (exit status %d: it wants a password or is not allowed); give the build user passwordless sudo, connect as root, or set use_sudo = false", s.status)
		}
		if s.status == packersdk.CmdDisconnect {
			return nil, errDisconnected
		}
		return nil, fmt.Errorf("%w: the guest's shell ended before it read anything (exit status %d)", errNoShell, s.status)
	case <-timer.C:
		s.close()
		return nil, fmt.Errorf("%w: the guest's shell did not answer within %s", errNoShell, pollDeadline)
	case <-ctx.Done():
		s.close()
		return nil, ctx.Err()
	}
}

// bootShellCommand is the command line of each poll for the new boot after
// a reboot, where scripts go to the boot's shell: it reads the old boot id
// on its standard input (a line; never on the command line), says the
// guest's boot id (a bootLine), and only when that is another becomes the
// new boot's root shell, through sudo where sudo is used. The wait for the
// new boot and the new boot's shell so take one session, and no sudo runs
// in the old boot.
func (g *guest) bootShellCommand() string {
	shell := sessionCommand
	if g.sudo {
		shell = "sudo -n " + sessionCommand
	}
	return `sh -c 'read -r amih_o; read -r amih_b </proc/sys/kernel/random/boot_id; ` +
		`printf "` + sessionPrefix + `boot\t%s\n" "$amih_b"; ` +
		`if [ -z "$amih_b" ] || [ "$amih_b" = "$amih_o" ]; then exit 0; fi; exec ` + shell + `'`
}

// bootLine starts bootShellCommand's line with the guest's boot id.
const bootLine = sessionPrefix + "boot\t"

// sessionOpening is the first thing the session shell reads: the shell's
// own functions (sessionFunctions), its traps, and the probes of the boot,
// said on one line with the token: the shell's uid (`id -u`), whether a
// subshell can source a script from a here-document's descriptor,
// /dev/fd/3 (amih_p), "sudo" when the shell is sudo's child (sudo sets
// SUDO_UID), and 1 when the shell's process group is its own or its
// parent's (sudo's), as where sshd starts the session's command: the
// deadline's TERM goes to that group, which must hold nothing but the
// shell, sudo and what the scripts start. `id` is the one program the
// opening starts.
func sessionOpening(token string) string {
	return sessionFunctions + `amih_f=; amih_dl=; amih_p=
trap amih__quit HUP INT
trap 'amih__late || amih__quit' TERM
amih_id=$(id -u)
# shellcheck source=/dev/null # the probe's here-document
( . /dev/fd/3 ) </dev/null >/dev/null 2>&1 3<<'AMIH_PROBE'
exit 42
AMIH_PROBE
if [ "$?" = 42 ]; then amih_p=1; fi
amih_g=0
if read -r amih_l </proc/$$/stat; then
	# The fields after the command's name: a state letter and numbers.
	# shellcheck disable=SC2086
	set -- ${amih_l##*) }
	case $3 in "$$" | "$PPID") amih_g=1 ;; esac
	set --
fi
printf '` + sessionPrefix + `ready\t%s\t%s\t%s\t%s\t%s\n' ` + token + ` "$amih_id" "$amih_p" "${SUDO_UID:+sudo}" "$amih_g"
`
}

// sessionFunctions are the boot shell's own functions, defined once a
// boot.
//
// amih__run SECONDS runs the script at $amih_r in a subshell (a fork: no
// program is started for it, which under emulation saves about 0.1 s a
// step against `timeout` and a new sh) with no standard input, no
// descriptor 3 (the script's first line closes it once the subshell has
// opened the script: debconf and others use descriptor 3) and the default
// HUP, INT and TERM actions, and sets amih_s to its exit status.
//
// The deadline is amih__watch's, a subshell started beside the script with
// nothing of the frame open: it sleeps SECONDS, then sends TERM to the
// shell's process group (the script and everything it started, as
// `timeout` does; sudo ignores a signal from its own group, the shell
// ignores it once the deadline has passed: amih__late), and 10 s later
// KILL to every process of that group but the shell, its parent (sudo) and
// itself, read from /proc. The shell stops the watch (USR1) as soon as the
// script has ended; the watch's trap kills its sleep and amih__nap reaps
// it, so no sleep is left behind and no wait can miss the signal (a USR1
// that came between the watch's test of amih_o and its wait once left the
// step waiting for the whole sleep). A USR1 that comes before the watch's
// trap is set ends the watch at once, which is what it is for; the shell's
// wait for it says nothing of the signal (busybox and dash would print
// "User defined signal 1" into the build's output). Where `sleep` cannot
// run, the watch ends at once and the plugin's own deadline (and its
// grace) is the only one.
//
// amih__quit removes the script's temporary file (where /dev/fd cannot be
// opened) and ends the shell: a HUP or INT, or a TERM that is not the
// deadline's (the guest's shutdown).
const sessionFunctions = `amih__quit() { [ -z "$amih_f" ] || rm -f "$amih_f"; exit 129; }
amih__late() { [ -n "$amih_dl" ] && read -r amih_u _ </proc/uptime && [ "${amih_u%.*}" -ge "$amih_dl" ]; }
amih__nap() {
	[ -z "$amih_o" ] || return 1
	amih_z=
	sleep "$1" & amih_z=$!
	amih_n=1
	[ -n "$amih_o" ] || { wait "$amih_z"; amih_n=$?; }
	if [ -n "$amih_o" ]; then
		kill -s KILL "$amih_z" 2>/dev/null
		wait "$amih_z" 2>/dev/null
		amih_z=
		return 1
	fi
	amih_z=
	return "$amih_n"
}
amih__watch() {
	trap '' TERM
	amih_o=
	amih_z=
	trap 'amih_o=1; [ -z "$amih_z" ] || kill -s KILL "$amih_z" 2>/dev/null' USR1
	amih__nap "$1" || exit 0
	kill -s TERM 0
	amih__nap 10 || exit 0
	read -r amih_l </proc/self/stat || exit 0
	amih_me=${amih_l%% *}
	amih_l=${amih_l##*) }
	# The fields after the command's name: a state letter and numbers.
	# shellcheck disable=SC2086
	set -- $amih_l
	amih_g=$3
	for amih_d in /proc/[0-9]*; do
		amih_q=${amih_d#/proc/}
		case $amih_q in "$$" | "$PPID" | "$amih_me") continue ;; esac
		read -r amih_l <"$amih_d/stat" 2>/dev/null || continue
		amih_l=${amih_l##*) }
		# shellcheck disable=SC2086
		set -- $amih_l
		[ "$3" != "$amih_g" ] || kill -s KILL "$amih_q" 2>/dev/null
	done
}
amih__run() {
	amih_dl=
	if read -r amih_u _ </proc/uptime; then amih_dl=$((${amih_u%.*} + $1)); fi
	( exec </dev/null >/dev/null 2>&1 3<&-; amih__watch "$1" ) & amih_w=$!
	# shellcheck source=/dev/null # the step's script
	( trap - HUP INT TERM; set --; . "$amih_r" ) </dev/null
	amih_s=$?
	kill -s USR1 "$amih_w" 2>/dev/null
	wait "$amih_w" 2>/dev/null
	amih_dl=
}
`

// sessionFrame is what the session shell reads to run one script: body
// (ending with a newline) in a here-document whose delimiter carries the
// execution's marker token, run with its deadline by amih__run, from the
// here-document's descriptor (no file: nothing to remove, nothing left when
// the shell is killed) or, where the boot's probe found that /dev/fd/3
// cannot be opened, from a private temporary file stored from it and
// removed afterwards; then the exit status said with the marker. The
// runner's own statuses are runnerTemplate's: 97 no temporary file, 98 not
// written; 127 where the shell has no amih__run (it was not opened with
// sessionOpening).
func sessionFrame(token string, deadline time.Duration, body string) string {
	end := "AMIH_END_" + token
	seconds := strconv.FormatInt(int64(deadline/time.Second)+1, 10)
	return `amih_s=0; amih_f=
{ if [ -n "$amih_p" ]; then amih_r=/dev/fd/3
elif amih_f=$(mktemp "${TMPDIR:-/tmp}/ami-hygiene.XXXXXX"); then amih_r=$amih_f; cat <&3 >"$amih_f" || amih_s=98
else amih_s=97; fi
if [ "$amih_s" = 0 ]; then amih_s=127; amih__run ` + seconds + `; fi; } 3<<'` + end + "'\n" +
		"exec 3<&-\n" + body + end + "\n" +
		`[ -z "$amih_f" ] || rm -f "$amih_f"; amih_f=; printf '` + sessionPrefix + `exit\t%s\t%s\n' ` + token + ` "$amih_s"
`
}

// commandFrame is what the session shell reads to run one of the plugin's
// own fixed commands (the reboot) in a subshell, then say its status.
func commandFrame(token, command string) string {
	return "( " + command + " ); printf '" + sessionPrefix + "exit\\t%s\\t%s\\n' " + token + " \"$?\"\n"
}

// inSession sends a frame to the boot's shell (opened first when there is
// none) and waits, at most deadline, for the marker of its exit status.
// Every other line goes to onLine. When the shell ends first, or the frame
// outlives deadline (the shell is then given up: the next execution opens
// another), the error says so.
func (g *guest) inSession(ctx context.Context, token, frame string, deadline time.Duration, onLine func(string)) (int, error) {
	if g.session == nil || g.session.dead() {
		s, err := g.openSession(ctx)
		if err != nil {
			return 0, err
		}
		g.session = s
	}
	s := g.session
	exited := make(chan int, 1)
	marker := sessionPrefix + "exit\t" + token + "\t"
	s.listen(func(line string) {
		// The exit line may follow a body's output that did not end with
		// a newline: what comes before the marker is a line of its own.
		if i := strings.Index(line, marker); i >= 0 {
			if i > 0 {
				onLine(line[:i])
			}
			status, err := strconv.Atoi(line[i+len(marker):])
			if err != nil {
				status = -1
			}
			exited <- status
			return
		}
		onLine(line)
	})
	defer s.listen(nil)
	sent := make(chan error, 1)
	go func() { sent <- s.send(frame) }()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		select {
		case status := <-exited:
			return status, nil
		case err := <-sent:
			if err != nil && !s.dead() {
				g.dropSession()
				return 0, fmt.Errorf("sending the script to the guest's shell: %w", err)
			}
			sent = nil
		case <-s.ended:
			// The marker may be the last line the session printed.
			select {
			case status := <-exited:
				return status, nil
			default:
			}
			g.session = nil
			if s.status == packersdk.CmdDisconnect {
				return s.status, errDisconnected
			}
			return s.status, fmt.Errorf("%w (exit status %d)", errShellDied, s.status)
		case <-timer.C:
			g.dropSession()
			return 0, errSessionTimeout
		case <-ctx.Done():
			g.dropSession()
			return 0, ctx.Err()
		}
	}
}

// errSessionTimeout: a frame outlived its deadline in the session.
var errSessionTimeout = errors.New("no answer from the guest's shell in time")

// dropSession gives the boot's shell up: its standard input is closed (it
// exits once its current command is done) and the next execution opens
// another.
func (g *guest) dropSession() {
	if g.session != nil {
		g.session.close()
		g.session = nil
	}
}
