package provisioner

import (
	"context"
	"fmt"
	"io"
	"os"
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
}

type fakeCall struct {
	Command string
	Stdin   string
}

func (f *fakeComm) Start(_ context.Context, cmd *packersdk.RemoteCmd) error {
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

func (f *fakeComm) Upload(string, io.Reader, *os.FileInfo) error { return fmt.Errorf("no uploads") }
func (f *fakeComm) UploadDir(string, string, []string) error     { return fmt.Errorf("no uploads") }
func (f *fakeComm) Download(string, io.Writer) error             { return fmt.Errorf("no downloads") }
func (f *fakeComm) DownloadDir(string, string, []string) error   { return fmt.Errorf("no downloads") }

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
		uid := "1000"
		if g.root {
			uid = "0"
		}
		out, status = "amih:fact\tuser\tadmin\namih:fact\tuid\t"+uid+"\namih:fact\tboot_id\tboot-1\namih:fact\tkernel\t6.1.0\namih:fact\tos_id\tdebian\namih:fact\tos_pretty_name\tDebian GNU/Linux 12 (bookworm)\n"+g.probeExtra, 0
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
