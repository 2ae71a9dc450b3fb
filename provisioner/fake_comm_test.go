package provisioner

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// fakeComm is a recording communicator: it keeps every command with what
// was sent on its standard input, and answers from a script of replies.
type fakeComm struct {
	mu       sync.Mutex
	commands []fakeCall
	// reply answers one call: stdout text and exit status.
	reply func(c fakeCall, n int) (string, int)
	// hang keeps commands of this step running until the test ends.
	hang string
	// noShell: the communicator cannot keep a shell's input open (its
	// sessions end at once), as some transports.
	noShell bool
	// uploads are the files uploaded, by path.
	uploads map[string][]byte
}

// record keeps a call and returns its number.
func (f *fakeComm) record(call fakeCall) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands = append(f.commands, call)
	return len(f.commands)
}

var (
	readyToken  = regexp.MustCompile(`ready(?:\\t%s)+\\n' ([0-9a-f]+) `)
	frameEnd    = regexp.MustCompile(`<<'(AMIH_END_[0-9a-f]+)'$`)
	markerToken = regexp.MustCompile(`exit\\t%s\\t%s\\n' ([0-9a-f]+) `)
)

// session plays the boot's shell (session.go): each frame the plugin sends
// is answered as a call of its own, whose Command is the session's command
// line and whose Stdin is the script (or, for a command frame, whose
// Command is the command).
func (f *fakeComm) session(cmd *packersdk.RemoteCmd) {
	n := f.record(fakeCall{Command: cmd.Command})
	// The reply to the opening is the ready line's words after the token.
	words, status := f.reply(fakeCall{Command: cmd.Command}, n)
	if status != 0 {
		cmd.SetExited(status)
		return
	}
	in := bufio.NewReader(cmd.Stdin)
	say := func(text string) {
		if cmd.Stdout != nil {
			io.WriteString(cmd.Stdout, text)
		}
	}
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			cmd.SetExited(0)
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case readyToken.MatchString(line):
			say(sessionPrefix + "ready\t" + readyToken.FindStringSubmatch(line)[1] + "\t" + words + "\n")
		case strings.HasPrefix(line, "( ") && strings.Contains(line, " ); printf '"+sessionPrefix):
			command, _, _ := strings.Cut(strings.TrimPrefix(line, "( "), " ); printf")
			call := fakeCall{Command: command}
			out, status := f.reply(call, f.record(call))
			say(out + sessionPrefix + "exit\t" + markerToken.FindStringSubmatch(line)[1] + "\t" + strconv.Itoa(status) + "\n")
		case strings.HasPrefix(line, "amih_s=0; "):
			// The frame's lines up to the one that runs the script and
			// opens the here-document.
			var run string
			for !frameEnd.MatchString(run) {
				l, err := in.ReadString('\n')
				if err != nil {
					cmd.SetExited(0)
					return
				}
				run = strings.TrimSuffix(l, "\n")
			}
			end := frameEnd.FindStringSubmatch(run)[1]
			var body strings.Builder
			for {
				l, err := in.ReadString('\n')
				if err != nil {
					cmd.SetExited(0)
					return
				}
				if l == end+"\n" {
					break
				}
				body.WriteString(l)
			}
			tail, _ := in.ReadString('\n')
			// The frame's own first line (the descriptor closed) is not
			// the script's.
			script, ok := strings.CutPrefix(body.String(), "exec 3<&-\n")
			if !ok {
				panic("the frame does not close descriptor 3 first: " + body.String())
			}
			call := fakeCall{Command: cmd.Command, Stdin: script, Run: run}
			out, status := f.reply(call, f.record(call))
			if f.hang != "" && stepOf(call) == f.hang {
				return // never answers, never exits
			}
			say(out + sessionPrefix + "exit\t" + markerToken.FindStringSubmatch(tail)[1] + "\t" + strconv.Itoa(status) + "\n")
		}
	}
}

type fakeCall struct {
	Command string
	Stdin   string
	// Run is, for a script sent to the boot's shell, the frame's line that
	// runs it (its deadline).
	Run string
}

// bootPoll plays bootShellCommand: the old boot id read from standard
// input, the boot id said (the reply to a call of the poll's command), and
// in a new boot the shell it becomes, whose command line it then takes.
func (f *fakeComm) bootPoll(cmd *packersdk.RemoteCmd) {
	// One byte at a time, as sh's read: the rest is the shell's.
	var old []byte
	b := make([]byte, 1)
	for {
		if _, err := cmd.Stdin.Read(b); err != nil || b[0] == '\n' {
			break
		}
		old = append(old, b[0])
	}
	call := fakeCall{Command: cmd.Command, Stdin: string(old) + "\n"}
	out, status := f.reply(call, f.record(call))
	id := strings.TrimSpace(out)
	if cmd.Stdout != nil {
		io.WriteString(cmd.Stdout, bootLine+id+"\n")
	}
	if status != 0 || id == "" || id == string(old) {
		cmd.SetExited(status)
		return
	}
	_, shell, _ := strings.Cut(cmd.Command, "; exec ")
	cmd.Command = strings.TrimSuffix(shell, "'")
	f.session(cmd)
}

// isBootPoll tells bootShellCommand's command lines from the others.
func isBootPoll(command string) bool {
	return strings.HasPrefix(command, "sh -c 'read -r amih_o; ")
}

func (f *fakeComm) Start(_ context.Context, cmd *packersdk.RemoteCmd) error {
	if isBootPoll(cmd.Command) && !f.noShell {
		go f.bootPoll(cmd)
		return nil
	}
	if isSessionCommand(cmd.Command) {
		if f.noShell {
			// The shell's input ends at once: it reads nothing and exits.
			f.record(fakeCall{Command: cmd.Command})
			go cmd.SetExited(0)
			return nil
		}
		go f.session(cmd)
		return nil
	}
	call := fakeCall{Command: cmd.Command}
	if cmd.Stdin != nil {
		data, _ := io.ReadAll(cmd.Stdin)
		call.Stdin = string(data)
	}
	f.mu.Lock()
	f.commands = append(f.commands, call)
	n := len(f.commands)
	f.mu.Unlock()
	out, status := f.reply(call, n)
	if f.hang != "" && stepOf(call) == f.hang {
		return nil // never exits
	}
	go func() {
		if cmd.Stdout != nil {
			io.WriteString(cmd.Stdout, out)
		}
		cmd.SetExited(status)
	}()
	return nil
}

func (f *fakeComm) Upload(path string, r io.Reader, _ *os.FileInfo) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uploads == nil {
		f.uploads = map[string][]byte{}
	}
	f.uploads[path] = data
	return nil
}
func (f *fakeComm) UploadDir(string, string, []string) error   { return fmt.Errorf("no uploads") }
func (f *fakeComm) Download(string, io.Writer) error           { return fmt.Errorf("no downloads") }
func (f *fakeComm) DownloadDir(string, string, []string) error { return fmt.Errorf("no downloads") }

// calls returns the recorded calls.
func (f *fakeComm) calls() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.commands...)
}

// stepOf names the step script a call runs ("" for other commands).
func stepOf(c fakeCall) string {
	for _, s := range append([]stepDef{{Name: "probe", Script: "probe.sh"}}, catalogue...) {
		if strings.Contains(c.Stdin, scriptText(s.script())) {
			return s.Name
		}
	}
	return ""
}

// isSessionCommand tells the boot shell's command lines from the others.
func isSessionCommand(command string) bool {
	return command == sessionCommand || command == "sudo -n "+sessionCommand || command == sessionAutoCommand
}

// fakeGuest answers like a healthy guest: a probe as a non-root user, empty
// step outputs unless steps says otherwise, and a boot id that changes
// after a reboot has been asked for.
type fakeGuest struct {
	steps       map[string]string // step name -> stdout
	status      map[string]int    // step name -> exit status
	sudoFails   bool
	root        bool // the SSH user is root
	neverBoots  bool
	probeExtra  string // more probe records
	noReconnect string // the guest's /run/ami-hygiene/no-reconnect
	// ranNothing: the guest's shell runs no script and exits 0 (as the
	// `none` communicator does); unfinished: these steps exit 0 without
	// their completion record.
	ranNothing bool
	unfinished map[string]bool
	mu         sync.Mutex
	rebooted   bool
}

func (g *fakeGuest) reply(c fakeCall, _ int) (string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case c.Command == sudoCheckCommand:
		if g.sudoFails {
			return "", 1
		}
		return "0\n", 0
	case isSessionCommand(c.Command) && c.Stdin == "":
		// A shell opens: its uid, /dev/fd/3, sudo or not.
		sudo := c.Command == "sudo -n "+sessionCommand || c.Command == sessionAutoCommand && !g.root
		switch {
		case sudo && g.sudoFails:
			return "", 1
		case sudo:
			return "0\t1\tsudo\t1", 0
		case g.root:
			return "0\t1\t\t1", 0
		}
		return "1000\t1\t\t1", 0
	case strings.Contains(c.Command, "systemctl reboot") && g.noReconnect != "":
		return g.noReconnect, exitNoReconnect
	case strings.Contains(c.Command, "systemctl reboot"):
		g.rebooted = !g.neverBoots
		return "", 0
	case strings.Contains(c.Command, "boot_id"):
		if g.rebooted {
			return "boot-2\n", 0
		}
		return "boot-1\n", 0
	}
	if g.ranNothing {
		return "", 0
	}
	name := stepOf(c)
	out, status := g.steps[name], g.status[name]
	if name == "probe" {
		// As root in a sudo shell, or as the SSH user.
		uid := "1000"
		if g.root || strings.HasPrefix(c.Command, "sudo -n ") || c.Command == sessionAutoCommand && !g.root {
			uid = "0"
		}
		out, status = "amih:fact\tuser\tadmin\namih:fact\tuid\t"+uid+"\namih:fact\tboot_id\tboot-1\namih:fact\tkernel\t6.1.0\namih:fact\tmachine\tx86_64\namih:fact\tos_id\tdebian\namih:fact\tos_pretty_name\tDebian GNU/Linux 12 (bookworm)\n"+g.probeExtra, 0
	}
	if name != "" && !g.unfinished[name] {
		out += fmt.Sprintf("amih:done\t%s\t%d\n", tokenOf(c), status)
	}
	return out, status
}

// tokenOf is the completion token the plugin put at the top of a script.
func tokenOf(c fakeCall) string {
	first, _, _ := strings.Cut(c.Stdin, "\n")
	return strings.TrimPrefix(first, "amih_token=")
}
