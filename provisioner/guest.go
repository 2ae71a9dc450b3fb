package provisioner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/shellquote"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/retry"
)

// Package-level so that tests can shorten the waits.
var (
	// rebootPollInterval is the pause between two boot-id polls.
	rebootPollInterval = 250 * time.Millisecond
	// pollDeadline bounds the wait for one fixed command: the SDK cannot
	// cancel a hung Start (ctx does not cross the RPC boundary), so a
	// command that does not answer in time is abandoned (a boot id poll is
	// waited for again: reboot).
	pollDeadline = 30 * time.Second
	// disconnectRetries is how many times a script cut by a lost connection
	// is run again (scripts are idempotent).
	disconnectRetries = 3
)

// runnerTemplate is the one fixed command line the plugin runs a guest
// script with where the communicator cannot keep a boot's shell open
// (session.go does the same work in that shell otherwise); its one blank is the script's deadline in whole seconds,
// which the plugin computes (no text a user wrote is ever part of a command
// line). The script arrives on standard input, is stored in a private
// temporary file and runs from there with no standard input, so that nothing
// a script runs can read the script itself. Where the guest has a `timeout`
// that knows -k, it ends the script (and, with GNU timeout, every process the
// script started) at the deadline.
//
// Exit statuses 97 and 98 are the runner's own (no step script exits with
// them): the temporary file could not be made, or the script could not be
// written into it.
const runnerTemplate = `f=$(mktemp "${TMPDIR:-/tmp}/ami-hygiene.XXXXXX") || exit 97; cat >"$f" || { rm -f "$f"; exit 98; }; ` +
	`if timeout -k 1 5 true 2>/dev/null; then timeout -k 10 %d sh "$f" </dev/null; else sh "$f" </dev/null; fi; s=$?; rm -f "$f"; exit $s`

// runnerCommand is the runner's command line for a deadline.
func runnerCommand(deadline time.Duration) string {
	return fmt.Sprintf(runnerTemplate, int64(deadline/time.Second)+1)
}

// deadlineGrace is how long the plugin waits past a script's deadline for
// the guest's own `timeout` to end it, before it gives up waiting.
var deadlineGrace = 30 * time.Second

// The runner's own exit statuses, and what they mean.
const (
	exitNoTempFile  = 97
	exitWriteScript = 98
)

// runnerError explains the runner's own exit statuses; nil for a script's.
func runnerError(status int) error {
	switch status {
	case exitNoTempFile:
		return errors.New("cannot create a temporary file in the guest's $TMPDIR or /tmp (is mktemp installed, is the disk full or /tmp read-only?)")
	case exitWriteScript:
		return errors.New("cannot write the plugin's script into a temporary file on the guest (is its disk full?)")
	}
	return nil
}

// rebootCommand starts a reboot detached from the SSH session, so that the
// command returns before the guest goes down (the race Packer's
// expect_disconnect papers over): one second later, so that its exit status
// gets back first. It refuses, with exitNoReconnect and the reasons on
// stdout, once a step of this build has made a new SSH connection fail
// (lib.sh's no_reconnect).
const rebootCommand = rebootRefusal + `nohup sh -c 'sleep 1; ` + rebootNow + `' >/dev/null 2>&1 &`

// shellRebootCommand is rebootCommand for the boot's root shell, which
// needs no pause: its status line is printed at once, and a session cut
// before it arrives is read as the reboot under way (startReboot).
const shellRebootCommand = rebootRefusal + `nohup sh -c '` + rebootNow + `' >/dev/null 2>&1 &`

const (
	rebootRefusal = `if [ -s /run/ami-hygiene/no-reconnect ]; then cat /run/ami-hygiene/no-reconnect; exit 96; fi; `
	rebootNow     = `systemctl reboot || shutdown -r now || reboot`
)

// sudoCheckCommand proves that sudo works without a password and makes the
// scripts root, where there is no boot shell to prove it (openSession).
const sudoCheckCommand = "sudo -n id -u"

// exitNoReconnect is rebootCommand's refusal.
const exitNoReconnect = 96

// guest runs scripts on the build instance through Packer's communicator.
type guest struct {
	comm packersdk.Communicator
	ui   packersdk.Ui
	// sudo: scripts run through `sudo -n`; sudoKnown: that is decided
	// (use_sudo, or the first shell or the probe has said).
	sudo, sudoKnown bool
	// heredoc: the boot's shell hands scripts to sh through a
	// here-document's descriptor (no temporary file).
	heredoc bool
	// shell: scripts go to the boot's one root shell (session.go), not to a
	// session each; session is that shell, nil until opened in this boot.
	shell   bool
	session *shellSession
	// spent is the guest's own time on the scripts run since the last
	// takeSpent (their completion records' uptimes), in nanoseconds: a
	// script abandoned at its deadline may still print its record later.
	spent atomic.Int64
}

// uptimeReading is the shape of a /proc/uptime reading.
var uptimeReading = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,9})?$`)

// takeSpent returns the guest's time on the scripts since the last call.
func (g *guest) takeSpent() time.Duration {
	return time.Duration(g.spent.Swap(0))
}

// show passes a line of the guest's own output to the UI, made safe.
func (g *guest) show(line string) { g.ui.Message(guestText(terminalLine(line))) }

// guestSpan is the time between two of the guest's /proc/uptime readings,
// or 0 when they are not two readings at most limit apart (a guest without
// /proc/uptime, or a record that lies).
func guestSpan(start, end string, limit time.Duration) time.Duration {
	if !uptimeReading.MatchString(start) || !uptimeReading.MatchString(end) {
		return 0
	}
	s, err1 := strconv.ParseFloat(start, 64)
	e, err2 := strconv.ParseFloat(end, 64)
	if err1 != nil || err2 != nil || e < s || e-s > limit.Seconds() {
		return 0
	}
	return time.Duration((e - s) * float64(time.Second))
}

// errDisconnected reports a script cut by a lost connection.
var errDisconnected = errors.New("the SSH session was cut")

// errNotRun reports a script that exited 0 without its completion record.
var errNotRun = errors.New("the guest's shell did not run the script: it ended without the script's completion record")

// execute sends body to the guest's sh — the boot's root shell, or a
// session of its own (through sudo once the probe has decided it is
// needed) — and waits for it, at most deadline (and the grace).
// Records go to onRecord, every text field made safe (guestText); other
// output goes to the UI, made safe the same way. It returns the script's exit
// status; a script that exits 0 counts only with its completion record
// (lib.sh's amih_exit), which carries a token made for this execution.
func (g *guest) execute(ctx context.Context, body string, deadline time.Duration, onRecord func(record)) (int, error) {
	token := newToken()
	completed := false
	var handle func(line string)
	handle = func(line string) {
		// The completion record starts a line of its own even where the
		// script's last output did not end with a newline.
		if i := strings.Index(line, doneRecordPrefix); i > 0 {
			handle(line[:i])
			line = line[i:]
		}
		r, ok := parseRecord(line)
		if !ok {
			g.show(line)
			return
		}
		if r.Kind == "done" {
			if r.field(0) == token && !completed {
				completed = true
				g.spent.Add(int64(guestSpan(r.field(2), r.field(3), deadline+deadlineGrace)))
			}
			return
		}
		for i := range r.Fields {
			r.Fields[i] = guestText(r.Fields[i])
		}
		onRecord(r)
	}
	// judge reads the script's exit status.
	judge := func(status int, ran time.Duration) (int, error) {
		switch {
		case status == packersdk.CmdDisconnect:
			return status, errDisconnected
		case (status == 124 || status == 137 || status == 143) && ran >= deadline:
			return status, fmt.Errorf("%w of %s: the guest ended it", errDeadline, deadline)
		case status == 0 && !completed:
			return status, errNotRun
		}
		return status, runnerError(status)
	}
	input := "amih_token=" + token + "\n" + body
	start := time.Now()
	if g.shell {
		if !strings.HasSuffix(input, "\n") {
			input += "\n"
		}
		marker := newToken()
		for strings.Contains(input, marker) {
			marker = newToken()
		}
		status, err := g.inSession(ctx, marker, sessionFrame(marker, deadline, input), deadline+deadlineGrace, handle)
		switch {
		case errors.Is(err, errSessionTimeout):
			return 0, fmt.Errorf("%w: still running %s after its deadline of %s", errDeadline, deadlineGrace, deadline)
		case err != nil:
			return status, err
		}
		return judge(status, time.Since(start))
	}
	command := "sh -c " + shellquote.Quote(runnerCommand(deadline))
	if g.sudo {
		command = "sudo -n " + command
	}
	out := &lineWriter{fn: handle}
	errOut := &lineWriter{fn: g.show}
	cmd := &packersdk.RemoteCmd{Command: command, Stdin: strings.NewReader(input), Stdout: out, Stderr: errOut}
	if err := g.comm.Start(ctx, cmd); err != nil {
		return 0, err
	}
	exited := make(chan int, 1)
	go func() { exited <- cmd.Wait() }()
	timer := time.NewTimer(deadline + deadlineGrace)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-timer.C:
		return 0, fmt.Errorf("%w: still running %s after its deadline of %s", errDeadline, deadlineGrace, deadline)
	case status := <-exited:
		out.Flush()
		errOut.Flush()
		return judge(status, time.Since(start))
	}
}

// errDeadline reports a script that ran past its deadline.
var errDeadline = errors.New("it did not finish within its deadline")

// newToken is a random token for one execution's completion record.
func newToken() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic("ami-hygiene: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// executeRetrying runs a script, again from the start when the connection was
// cut (every script is idempotent), and says so. Before each attempt, attempt
// is called with its number (1 first): it resets what the caller gathered
// and returns the script to send (a new one each time where the script
// names something made for it, as the guest helper's upload, which the
// cut attempt may have used up).
func (g *guest) executeRetrying(ctx context.Context, what string, deadline time.Duration, attempt func(n int) string, onRecord func(record)) (int, error) {
	var status int
	n := 0
	err := retry.Config{
		Tries:       disconnectRetries,
		RetryDelay:  func() time.Duration { return 2 * time.Second },
		ShouldRetry: func(err error) bool { return errors.Is(err, errDisconnected) },
	}.Run(ctx, func(ctx context.Context) error {
		n++
		if n > 1 {
			g.ui.Say(fmt.Sprintf("ami-hygiene: the SSH session was cut while %s ran; running it again from the start (attempt %d of %d)", what, n, disconnectRetries))
		}
		body := attempt(n)
		var err error
		status, err = g.execute(ctx, body, deadline, onRecord)
		return err
	})
	var exhausted *retry.RetryExhaustedError
	if errors.As(err, &exhausted) && errors.Is(exhausted.Err, errDisconnected) {
		err = fmt.Errorf("%w %d times", errDisconnected, n)
	}
	return status, err
}

// fixed runs one of the plugin's own short, fixed commands (no user text)
// and returns its standard output (made safe: guestText) and exit status,
// within deadline: the SDK cannot cancel a hung Start (ctx does not cross
// the RPC boundary), so a command that does not answer in time is abandoned.
func (g *guest) fixed(ctx context.Context, command string, deadline time.Duration) (string, int, error) {
	a, err := await(ctx, g.startFixed(ctx, command), deadline)
	if err != nil {
		return "", 0, err
	}
	return a.out, a.status, a.err
}

// fixedAnswer is what a fixed command gave.
type fixedAnswer struct {
	out    string
	status int
	err    error
}

// startFixed starts a fixed command; its answer comes on the channel.
func (g *guest) startFixed(ctx context.Context, command string) <-chan fixedAnswer {
	done := make(chan fixedAnswer, 1)
	go func() {
		var out bytes.Buffer
		cmd := &packersdk.RemoteCmd{Command: command, Stdout: &out, Stderr: io.Discard}
		if err := g.comm.Start(ctx, cmd); err != nil {
			done <- fixedAnswer{err: err}
			return
		}
		status := cmd.Wait()
		done <- fixedAnswer{out: guestText(strings.TrimSpace(out.String())), status: status}
	}()
	return done
}

// errNoAnswer: a fixed command gave no answer in time (it may still).
var errNoAnswer = errors.New("no answer")

// await waits at most deadline for an answer on the channel (a fixed
// command's, an upload's, a boot poll's).
func await[T any](ctx context.Context, answer <-chan T, deadline time.Duration) (T, error) {
	var none T
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	select {
	case a := <-answer:
		return a, nil
	case <-timer.C:
		return none, fmt.Errorf("%w within %s", errNoAnswer, deadline)
	case <-ctx.Done():
		return none, ctx.Err()
	}
}

// bootIDCommand reads the guest's boot id, as the SSH user.
const bootIDCommand = "cat /proc/sys/kernel/random/boot_id"

// reboot reboots the guest, detached, and waits until it answers with a new
// boot id, bounded by timeout. It returns the new boot id.
func (g *guest) reboot(ctx context.Context, oldID string, timeout time.Duration) (string, error) {
	out, status, err := g.startReboot(ctx)
	if err != nil {
		return "", fmt.Errorf("starting the reboot: %w", err)
	}
	switch status {
	case 0, packersdk.CmdDisconnect:
	case exitNoReconnect:
		reasons := strings.ReplaceAll(out, "\n", "; ")
		return "", fmt.Errorf("refusing to reboot: the build could not connect again (%s earlier in this build); run every step that reboots before machine_identity and authorized_keys", reasons)
	default:
		return "", fmt.Errorf("starting the reboot: exit status %d", status)
	}
	var newID string
	answered := false // the last poll reached the guest, still on the old boot
	// One poll out at a time: one that does not answer within pollDeadline
	// is waited for again rather than joined by another. (While the guest
	// goes down, a poll hangs on the dead connection until the new boot's
	// network resets it; every poll started meanwhile would hang on it as
	// well, and then all of them would log in at once, slowing each other.)
	var poll <-chan bootAnswer
	err = retry.Config{
		StartTimeout: timeout,
		RetryDelay:   func() time.Duration { return rebootPollInterval },
	}.Run(ctx, func(ctx context.Context) error {
		if poll == nil {
			poll = g.startBootPoll(ctx, oldID)
		}
		a, err := await(ctx, poll, pollDeadline)
		if errors.Is(err, errNoAnswer) {
			log.Printf("[DEBUG] ami-hygiene: waiting for the guest: the boot id poll is still out after %s", pollDeadline)
		}
		if err != nil {
			return err
		}
		poll = nil
		answered = a.id != "" && a.id == oldID
		switch {
		case a.id == "" && a.err != nil:
			log.Printf("[DEBUG] ami-hygiene: waiting for the guest: %v", a.err)
			return a.err
		case a.id == "" || a.id == oldID:
			return errors.New("the guest has not rebooted yet")
		}
		newID = a.id
		if a.session != nil {
			g.session = a.session
		} else if a.err != nil {
			// The new boot's shell is opened again by the next script.
			log.Printf("[DEBUG] ami-hygiene: the new boot's shell did not open with the poll: %v", a.err)
		}
		return nil
	})
	if poll != nil {
		// A poll still out when the wait ends: its shell, if it opens, is
		// given up.
		go func() {
			if a := <-poll; a.session != nil {
				a.session.close()
			}
		}()
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if answered {
			return "", fmt.Errorf("the guest did not reboot: it still answers with its old boot id after %s (reboot_timeout); was the reboot blocked or ignored?", timeout)
		}
		return "", fmt.Errorf("the guest did not come back with a new boot id within %s (reboot_timeout): %v", timeout, err)
	}
	return newID, nil
}

// bootAnswer is what one poll for the new boot gave: the guest's boot id
// ("" when it gave none), and, where scripts go to the boot's shell and
// the boot is a new one, that boot's root shell, opened by the same
// session (bootShellCommand).
type bootAnswer struct {
	id      string
	session *shellSession
	err     error
}

// startBootPoll asks the guest for its boot id, as the SSH user: in a
// session that becomes the new boot's shell (bootShellCommand) where
// scripts go to the boot's shell, else with bootIDCommand. The answer
// comes on the channel.
func (g *guest) startBootPoll(ctx context.Context, oldID string) <-chan bootAnswer {
	done := make(chan bootAnswer, 1)
	if !g.shell {
		answer := g.startFixed(ctx, bootIDCommand)
		go func() {
			a := <-answer
			if a.err == nil && a.status != 0 {
				a.err = fmt.Errorf("reading the boot id exited %d", a.status)
			}
			if a.err != nil {
				a.out = ""
			}
			done <- bootAnswer{id: a.out, err: a.err}
		}()
		return done
	}
	// One line: the shell that a new boot's poll becomes reads whatever
	// follows it (a boot id is the guest's text).
	oldLine, _, _ := strings.Cut(oldID, "\n")
	go func() {
		ids := make(chan string, 1)
		s, err := g.openSessionWith(ctx, g.bootShellCommand(), oldLine+"\n", func(line string) bool {
			id, ok := strings.CutPrefix(line, bootLine)
			if ok {
				select {
				case ids <- guestText(id):
				default:
				}
			}
			return ok
		})
		a := bootAnswer{session: s, err: err}
		select {
		case a.id = <-ids:
		default:
		}
		done <- a
	}()
	return done
}

// startReboot runs rebootCommand as root: in the boot's shell, which is
// then closed (the next boot gets its own), or in a session of its own.
func (g *guest) startReboot(ctx context.Context) (string, int, error) {
	if !g.shell {
		command := rebootCommand
		if g.sudo {
			command = "sudo -n sh -c " + shellquote.Quote(rebootCommand)
		}
		return g.fixed(ctx, command, pollDeadline)
	}
	defer g.dropSession()
	var lines []string
	marker := newToken()
	status, err := g.inSession(ctx, marker, commandFrame(marker, shellRebootCommand), pollDeadline, func(line string) { lines = append(lines, guestText(line)) })
	if errors.Is(err, errDisconnected) {
		return "", packersdk.CmdDisconnect, nil
	}
	return strings.Join(lines, "\n"), status, err
}

// maxLine bounds one line of guest output (a record's escaped fields
// included: verify sends at most 64 KiB of output, escaped). A longer line is
// passed on cut, marked, and the rest of it dropped.
const maxLine = 256 << 10

// lineWriter calls fn for every complete line written to it, holding at
// most maxLine bytes of one line.
type lineWriter struct {
	mu       sync.Mutex
	buf      []byte
	dropping bool // the rest of a line that was too long is skipped
	fn       func(string)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !w.dropping {
			if room := maxLine - len(w.buf); len(chunk) > room {
				w.buf = append(w.buf, chunk[:room]...)
				w.fn(string(w.buf) + " …(line cut at " + strconv.Itoa(maxLine) + " bytes)")
				w.buf, w.dropping = w.buf[:0], true
			} else {
				w.buf = append(w.buf, chunk...)
			}
		}
		if i < 0 {
			break
		}
		if !w.dropping {
			w.fn(strings.TrimRight(string(w.buf), "\r"))
		}
		w.buf, w.dropping = w.buf[:0], false
		p = p[i+1:]
	}
	return n, nil
}

// Flush passes on a last line without a newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 && !w.dropping {
		w.fn(strings.TrimRight(string(w.buf), "\r"))
	}
	w.buf, w.dropping = nil, false
}
