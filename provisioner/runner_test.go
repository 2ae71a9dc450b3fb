package provisioner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/shellquote"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/internal/reportschema"
)

// provision prepares raw and runs Provision against a fake guest.
func provision(t *testing.T, raw map[string]interface{}, g *fakeGuest) (*fakeComm, *Report, error) {
	t.Helper()
	comm, rep, _, _, err := provisionRun(t, raw, g)
	return comm, rep, err
}

// provisionRun prepares raw, runs Provision against a fake guest, and
// returns the communicator, the report, the UI's text and the folder of the
// report files.
func provisionRun(t *testing.T, raw map[string]interface{}, g *fakeGuest) (*fakeComm, *Report, string, string, error) {
	t.Helper()
	dir := t.TempDir()
	raw["report_path"] = filepath.Join(dir, "report.json")
	raw["junit_path"] = filepath.Join(dir, "junit.xml")
	p := &Provisioner{}
	if err := p.Prepare(raw); err != nil {
		t.Fatal(err)
	}
	comm := &fakeComm{reply: g.reply}
	var out bytes.Buffer
	ui := &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &out, ErrorWriter: &out}
	err := p.Provision(context.Background(), ui, comm, nil)
	data, rerr := os.ReadFile(filepath.Join(dir, "report.json"))
	if rerr != nil {
		t.Fatalf("no report: %v", rerr)
	}
	// Every report follows the published schema (docs/report.schema.json).
	if verr := reportschema.Validate(filepath.Join(dir, "report.json")); verr != nil {
		t.Error(verr)
	}
	// Lists are [] when empty, never null: report readers iterate them.
	if strings.Contains(string(data), ": null") {
		t.Errorf("the report holds a null:\n%s", data)
	}
	var rep Report
	if jerr := json.Unmarshal(data, &rep); jerr != nil {
		t.Fatal(jerr)
	}
	if _, jerr := os.Stat(filepath.Join(dir, "junit.xml")); jerr != nil {
		t.Errorf("no junit file: %v", jerr)
	}
	return comm, &rep, out.String(), dir, err
}

func stepStatus(rep *Report) map[string]Status {
	out := map[string]Status{}
	for _, s := range rep.Steps {
		out[s.Name] = s.Status
	}
	return out
}

func TestProvisionRunsEveryStepInOrderThroughSudo(t *testing.T) {
	g := &fakeGuest{steps: map[string]string{
		"shell_history": "amih:change\tremove\t/root/.bash_history\n",
	}}
	hostile := `x'; touch /tmp/pwned; echo '$(id)` + "`id`"
	comm, rep, err := provision(t, map[string]interface{}{
		"verify":        []map[string]interface{}{{"command": hostile}},
		"stop_services": map[string]interface{}{"services": []string{"nginx"}},
	}, g)
	if err == nil {
		t.Fatal("verify without output records must fail (the check did not run)")
	}
	// The steps ran in the catalogue's order until verify failed.
	var order []string
	for _, c := range comm.calls() {
		if name := stepOf(c); name != "" {
			order = append(order, name)
			// Issue 26: the probe too (the first shell decided on sudo).
			if c.Command != sessionAutoCommand {
				t.Errorf("%s did not run in the boot's root shell: %s", name, c.Command)
			}
			if strings.Contains(c.Command, "pwned") {
				t.Errorf("user text on a command line: %s", c.Command)
			}
		}
	}
	if got := strings.Join(order, ","); got != "probe,wait_for_boot,update_packages,verify" {
		t.Errorf("order %s", got)
	}
	// The hostile command reached the guest once, quoted.
	for _, c := range comm.calls() {
		if stepOf(c) == "verify" && !strings.Contains(c.Stdin, "AMIH_CHECK_1_COMMAND="+shellquote.Quote(hostile)+"; export AMIH_CHECK_1_COMMAND\n") {
			t.Errorf("verify input not quoted as expected:\n%s", c.Stdin[:400])
		}
	}
	if stepStatus(rep)["verify"] != StatusFailed || rep.Status != "failed" {
		t.Errorf("report: %v %s", stepStatus(rep), rep.Status)
	}
}

func TestProvisionFullRun(t *testing.T) {
	g := &fakeGuest{steps: map[string]string{
		"update_packages": "amih:change\tupgrade\topenssl\t3.0.1 -> 3.0.2\namih:count\tpackages_upgraded\t1\namih:reboot\t/var/run/reboot-required exists\n",
		"verify":          "amih:output\t1\thttps://github.com/acme/app.git\namih:count\texit_1\t0\n",
		"stop_services":   "amih:change\tstop\tnginx\n",
		"authorized_keys": "amih:change\tremove\t/root/.ssh/authorized_keys\namih:warn\tsomething odd\n",
	}}
	comm, rep, err := provision(t, map[string]interface{}{
		"verify":        []map[string]interface{}{{"name": "app", "command": "git remote get-url origin", "expect_output": `^https://github\.com/acme/app(\.git)?$`}},
		"stop_services": map[string]interface{}{"services": []string{"nginx"}},
	}, g)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Status{"wait_for_boot": StatusOK, "update_packages": StatusChanged, "verify": StatusOK,
		"stop_services": StatusChanged, "mail_queue": StatusOK, "shell_history": StatusOK, "credentials": StatusOK,
		"authorized_keys": StatusChanged}
	got := stepStatus(rep)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if rep.Guest.Reboots != 1 || strings.Join(rep.Guest.BootIDs, ",") != "boot-1,boot-2" {
		t.Errorf("reboots %d, boot ids %v", rep.Guest.Reboots, rep.Guest.BootIDs)
	}
	// After the reboot the boot check ran again, before verify.
	var order, shells []string
	for _, c := range comm.calls() {
		if name := stepOf(c); name != "" {
			order = append(order, name)
		}
		if isSessionCommand(c.Command) && c.Stdin == "" {
			shells = append(shells, c.Command)
		}
	}
	// Issue 26: one root shell a boot (the first decides on sudo, the
	// second knows); the reboot went through the first, and no other
	// command used sudo (sudo's calls are the shells and the scripts sent
	// to them).
	if want := []string{sessionAutoCommand, "sudo -n " + sessionCommand}; !slices.Equal(shells, want) {
		t.Errorf("root shells %q for 2 boots, want %q", shells, want)
	}
	for _, c := range comm.calls() {
		if strings.HasPrefix(c.Command, "sudo ") && c.Command != "sudo -n "+sessionCommand {
			t.Errorf("a command of its own through sudo: %s", c.Command)
		}
	}
	// The wait for the new boot opened its shell: the poll that found
	// boot-2 became it (no session of its own for the shell), and the old
	// boot id went on the poll's standard input, never on a command line.
	calls := comm.calls()
	second := slices.IndexFunc(calls, func(c fakeCall) bool { return c.Command == "sudo -n "+sessionCommand && c.Stdin == "" })
	if second < 1 || !isBootPoll(calls[second-1].Command) || calls[second-1].Stdin != "boot-1\n" {
		t.Errorf("the second boot's shell was not opened by the boot id poll: %v", calls)
	}
	for _, c := range calls {
		if strings.Contains(c.Command, "boot-1") {
			t.Errorf("the old boot id on a command line: %s", c.Command)
		}
	}
	if rep.Guest.Detected["transport"] != "one shell a boot" {
		t.Errorf("transport %q", rep.Guest.Detected["transport"])
	}
	if got := strings.Join(order, ","); got != "probe,wait_for_boot,update_packages,wait_for_boot,verify,stop_services,mail_queue,"+
		"machine_identity,access_policy,logs,caches,shell_history,credentials,authorized_keys,secret_scan,free_space,final_shutdown,audit" {
		t.Errorf("order %s", got)
	}
	for _, s := range rep.Steps {
		if s.Name == "authorized_keys" && (len(s.Warnings) != 1 || s.Warnings[0] != "something odd") {
			t.Errorf("warnings lost: %+v", s)
		}
	}
	if rep.Verdict != VerdictClean || len(rep.Findings) != 0 {
		t.Errorf("verdict %s, findings %v", rep.Verdict, rep.Findings)
	}
}

// TestProvisionFindings: findings of the checking steps fail the build, or
// warn, and make the report's verdict.
func TestProvisionFindings(t *testing.T) {
	auditFinding := "amih:finding\tauthorized_keys\t/root/.ssh/authorized_keys\tof root\n"
	secretFinding := "amih:finding\tprivate-key,aws-access-key-id\t/opt/app/deploy.pem\n"
	for _, tc := range []struct {
		name     string
		config   map[string]interface{}
		replies  map[string]string
		failed   string // the step that fails, "" for none
		verdict  string
		findings int
	}{
		{"audit finding fails", nil, map[string]string{"audit": auditFinding}, "audit", VerdictFindings, 1},
		{"audit finding warns", map[string]interface{}{"audit": map[string]interface{}{"on_finding": "warn"}},
			map[string]string{"audit": auditFinding}, "", VerdictFindings, 1},
		{"dry run never fails", map[string]interface{}{"dry_run": true},
			map[string]string{"audit": auditFinding, "secret_scan": secretFinding}, "", VerdictDryRunAudit, 2},
		{"secret fails before the audit", nil, map[string]string{"secret_scan": secretFinding}, "secret_scan", VerdictNotAudited, 1},
		{"audit left out", map[string]interface{}{"skip_steps": []string{"audit"}}, nil, "", VerdictNotAudited, 0},
		{"audit script error", nil, map[string]string{"audit": "amih:error\tbroken\n"}, "audit", VerdictNotAudited, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &fakeGuest{steps: tc.replies, status: map[string]int{}}
			if strings.Contains(tc.replies["audit"], "error") {
				g.status["audit"] = 1
			}
			config := map[string]interface{}{}
			for k, v := range tc.config {
				config[k] = v
			}
			_, rep, err := provision(t, config, g)
			failed := ""
			for _, s := range rep.Steps {
				if s.Status == StatusFailed {
					failed = s.Name
				}
			}
			if failed != tc.failed || (err != nil) != (tc.failed != "") {
				t.Errorf("failed step %q (err %v), want %q", failed, err, tc.failed)
			}
			if err != nil && tc.findings > 0 && !strings.Contains(err.Error(), "finding(s)") {
				t.Errorf("error does not list the findings: %v", err)
			}
			if rep.Verdict != tc.verdict || len(rep.Findings) != tc.findings {
				t.Errorf("verdict %s with %d findings, want %s with %d", rep.Verdict, len(rep.Findings), tc.verdict, tc.findings)
			}
		})
	}
}

func TestProvisionDryRunNeverReboots(t *testing.T) {
	g := &fakeGuest{steps: map[string]string{
		"update_packages": "amih:change\tupgrade\topenssl\t3.0.2\namih:reboot\tkernel\n",
		"shell_history":   "amih:change\tremove\t/root/.bash_history\n",
	}}
	comm, rep, err := provision(t, map[string]interface{}{"dry_run": true}, g)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comm.calls() {
		if strings.Contains(c.Command, "reboot") {
			t.Errorf("dry run sent %s", c.Command)
		}
		if stepOf(c) != "" && stepOf(c) != "probe" && !strings.Contains(c.Stdin, "AMIH_DRY_RUN='1'") {
			t.Errorf("%s did not get AMIH_DRY_RUN=1", stepOf(c))
		}
	}
	if s := stepStatus(rep); s["update_packages"] != StatusWouldChange || s["shell_history"] != StatusWouldChange || s["credentials"] != StatusOK {
		t.Errorf("statuses %v", s)
	}
	if rep.Guest.Reboots != 0 || !rep.DryRun {
		t.Errorf("report %+v", rep.Guest)
	}
}

func TestProvisionRebootTimeout(t *testing.T) {
	defer func(d time.Duration) { rebootPollInterval = d }(rebootPollInterval)
	rebootPollInterval = 10 * time.Millisecond
	g := &fakeGuest{neverBoots: true, steps: map[string]string{"update_packages": "amih:reboot\talways\n"}}
	_, rep, err := provision(t, map[string]interface{}{"update_packages": map[string]interface{}{"reboot_timeout": "1s"}}, g)
	if err == nil || !strings.Contains(err.Error(), "update_packages") || !strings.Contains(err.Error(), "reboot_timeout") ||
		!strings.Contains(err.Error(), "did not reboot: it still answers with its old boot id") {
		t.Fatalf("error %v", err)
	}
	if len(rep.Steps) != 2 {
		t.Errorf("steps after the failed one ran: %v", stepStatus(rep))
	}
}

// A reboot after a step that made a new connection fail (here, from an
// earlier ami-hygiene provisioner of the same build) is refused.
func TestProvisionRefusesToRebootWhenItCouldNotReconnect(t *testing.T) {
	g := &fakeGuest{noReconnect: "authorized_keys removed the keys the build connects with\n"}
	_, rep, err := provision(t, map[string]interface{}{
		"steps":                []string{"verify"},
		"reboot_before_verify": true,
		"verify":               []map[string]interface{}{{"command": "true"}},
	}, g)
	if err == nil || !strings.Contains(err.Error(), "step verify failed: refusing to reboot: the build could not connect again (authorized_keys removed the keys the build connects with earlier in this build)") {
		t.Fatalf("error %v", err)
	}
	if g.rebooted || rep.Guest.Reboots != 0 {
		t.Errorf("the guest rebooted")
	}
}

func TestProvisionStepFailureStops(t *testing.T) {
	g := &fakeGuest{
		steps:  map[string]string{"stop_services": "amih:error\tno such service: nope\n"},
		status: map[string]int{"stop_services": 1},
	}
	_, rep, err := provision(t, map[string]interface{}{"stop_services": map[string]interface{}{"services": []string{"nope"}}}, g)
	if err == nil || !strings.Contains(err.Error(), "step stop_services failed: no such service: nope") {
		t.Fatalf("error %v", err)
	}
	if _, ran := stepStatus(rep)["mail_queue"]; ran {
		t.Error("mail_queue ran after a failure")
	}
}

func TestProvisionVerifyMismatchShowsOutput(t *testing.T) {
	g := &fakeGuest{steps: map[string]string{"verify": "amih:output\t1\thttps://evil.example/app\namih:count\texit_1\t0\n"}}
	_, _, err := provision(t, map[string]interface{}{
		"steps":  []string{"verify"},
		"verify": []map[string]interface{}{{"name": "remote", "command": "git remote get-url origin", "expect_output": "^https://github.com/acme/app$"}},
	}, g)
	if err == nil || !strings.Contains(err.Error(), "remote: output does not match") || !strings.Contains(err.Error(), "https://evil.example/app") {
		t.Fatalf("error %v", err)
	}
}

func TestProvisionSudoPasswordIsAClearError(t *testing.T) {
	_, _, err := provision(t, map[string]interface{}{}, &fakeGuest{sudoFails: true})
	if err == nil || !strings.Contains(err.Error(), "use_sudo") || !strings.Contains(err.Error(), "password") {
		t.Fatalf("error %v", err)
	}
}

func TestProvisionRetriesACutSession(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cuts    int // how many attempts are cut
		wantErr string
	}{
		{"one cut", 1, ""},
		{"cut every time", disconnectRetries, "step shell_history failed: running shell_history.sh on the guest: the SSH session was cut 3 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &fakeGuest{}
			attempts := 0
			comm := &fakeComm{reply: func(c fakeCall, n int) (string, int) {
				if stepOf(c) != "shell_history" {
					return g.reply(c, n)
				}
				attempts++
				if attempts <= tc.cuts {
					// The cut attempt had removed one file already.
					return "amih:change\tremove\t/root/.bash_history\n", packersdk.CmdDisconnect
				}
				return "amih:change\tremove\t/home/admin/.bash_history\namih:done\t" + tokenOf(c) + "\t0\n", 0
			}}
			dir := t.TempDir()
			p := &Provisioner{}
			if err := p.Prepare(map[string]interface{}{"steps": []string{"shell_history"}, "report_path": filepath.Join(dir, "r.json")}); err != nil {
				t.Fatal(err)
			}
			err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
			if want := min(tc.cuts+1, disconnectRetries); attempts != want {
				t.Errorf("%d attempts, want %d", attempts, want)
			}
			if tc.wantErr != "" {
				return
			}
			var rep Report
			data, _ := os.ReadFile(filepath.Join(dir, "r.json"))
			if err := json.Unmarshal(data, &rep); err != nil {
				t.Fatal(err)
			}
			step := rep.Steps[0]
			if len(step.Actions) != 2 || len(step.Warnings) != 1 || !strings.Contains(step.Warnings[0], "the SSH session was cut; shell_history.sh ran 2 times") {
				t.Errorf("the report hides the cut attempt: actions %v, warnings %v", step.Actions, step.Warnings)
			}
		})
	}
}

// TestProvisionRetryGetsItsOwnHelperUpload: the step script removes the
// guest helper's upload once it has copied it, so an attempt cut after that
// left nothing for the next: each attempt of free_space gets an upload of
// its own (on the old code the second attempt named the first's path, gone:
// the step read in sh).
func TestProvisionRetryGetsItsOwnHelperUpload(t *testing.T) {
	build := []byte("the amd64 helper")
	guestHelperFiles = fstest.MapFS{"guestbin/ami-hygiene-guest-linux-amd64": {Data: build}}
	t.Cleanup(func() { guestHelperFiles = guestBin })
	g := &fakeGuest{}
	var named []string
	comm := &fakeComm{}
	comm.reply = func(c fakeCall, n int) (string, int) {
		if stepOf(c) != "free_space" {
			return g.reply(c, n)
		}
		m := regexp.MustCompile(`AMIH_HELPER='([^']*)'`).FindStringSubmatch(c.Stdin)
		if m == nil {
			t.Fatalf("free_space got no AMIH_HELPER")
		}
		named = append(named, m[1])
		// The script removes the upload as soon as it has its copy.
		delete(comm.uploads, m[1])
		if len(named) == 1 {
			return "", packersdk.CmdDisconnect
		}
		return "amih:done\t" + tokenOf(c) + "\t0\n", 0
	}
	p := &Provisioner{}
	if err := p.Prepare(map[string]interface{}{"steps": []string{"free_space"}, "report_path": filepath.Join(t.TempDir(), "r.json")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Provision(context.Background(), packersdk.TestUi(t), comm, nil); err != nil {
		t.Fatal(err)
	}
	if len(named) != 2 || named[0] == named[1] {
		t.Fatalf("the attempts named the uploads %q: want two, each its own", named)
	}
}

func TestProvisionRunnerFailuresAreExplained(t *testing.T) {
	for _, tc := range []struct {
		name   string
		guest  *fakeGuest
		status int // the exit status of shell_history's runner
		want   string
	}{
		{"no temp file", &fakeGuest{}, exitNoTempFile, "step shell_history failed: running shell_history.sh on the guest: cannot create a temporary file"},
		{"disk full", &fakeGuest{}, exitWriteScript, "cannot write the plugin's script into a temporary file on the guest (is its disk full?)"},
		{"missing tools", &fakeGuest{probeExtra: "amih:fact\tmissing_tools\tawk xargs\n"}, 0, `the guest lacks awk xargs on the PATH of user "admin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.guest.status = map[string]int{"shell_history": tc.status}
			comm, _, err := provision(t, map[string]interface{}{"steps": []string{"shell_history"}}, tc.guest)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			for _, c := range comm.calls() {
				if name := stepOf(c); tc.status == 0 && name != "" && name != "probe" {
					t.Errorf("%s ran after the probe found tools missing", name)
				}
			}
		})
	}
}

func TestProvisionSudoDecision(t *testing.T) {
	for _, tc := range []struct {
		name     string
		root     bool
		useSudo  interface{}
		wantSudo bool
	}{
		{"non-root user: sudo", false, nil, true},
		{"root: no sudo", true, nil, false},
		{"use_sudo = false", false, false, false},
		{"use_sudo = true as root", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := map[string]interface{}{"steps": []string{"shell_history"}}
			if tc.useSudo != nil {
				raw["use_sudo"] = tc.useSudo
			}
			comm, rep, err := provision(t, raw, &fakeGuest{root: tc.root})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range comm.calls() {
				sudo := strings.HasPrefix(c.Command, "sudo -n ") || c.Command == sessionAutoCommand && !tc.root
				if stepOf(c) == "shell_history" && sudo != tc.wantSudo {
					t.Errorf("command %q, want sudo %v", c.Command, tc.wantSudo)
				}
			}
			if rep.Guest.UsedSudo != tc.wantSudo {
				t.Errorf("report used_sudo %v", rep.Guest.UsedSudo)
			}
		})
	}
}

// TestProvisionHonoursContext: Packer's `timeout` cancels ctx; a step that
// hangs must not hold the build.
func TestProvisionHonoursContext(t *testing.T) {
	p := &Provisioner{}
	if err := p.Prepare(map[string]interface{}{"report_path": filepath.Join(t.TempDir(), "r.json")}); err != nil {
		t.Fatal(err)
	}
	comm := &fakeComm{reply: (&fakeGuest{}).reply, hang: "update_packages"}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Provision(ctx, packersdk.TestUi(t), comm, nil) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
			t.Fatalf("error %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Provision did not return after ctx was cancelled")
	}
}

// The runner's and the reboot's own exit statuses are the ones their fixed
// command lines use.
func TestFixedCommandsUseTheirExitStatuses(t *testing.T) {
	for command, statuses := range map[string][]int{
		runnerCommand(time.Minute): {exitNoTempFile, exitWriteScript},
		rebootCommand:              {exitNoReconnect},
		shellRebootCommand:         {exitNoReconnect},
	} {
		for _, s := range statuses {
			if !strings.Contains(command, fmt.Sprintf("exit %d;", s)) {
				t.Errorf("%q does not exit %d", command, s)
			}
		}
	}
}

// pollComm answers the reboot and boot id polls: the first polls hang (as
// on the dead connection of a guest going down) for longer than a poll's
// deadline, then the guest answers with its new boot id.
type pollComm struct {
	fakeComm
	hang            time.Duration
	hangs           int // how many polls hang
	mu              sync.Mutex
	polls, out, max int
}

func (c *pollComm) Start(_ context.Context, cmd *packersdk.RemoteCmd) error {
	if cmd.Command != bootIDCommand {
		go cmd.SetExited(0) // the reboot, started
		return nil
	}
	c.mu.Lock()
	c.polls++
	n := c.polls
	c.out++
	c.max = max(c.max, c.out)
	c.mu.Unlock()
	go func() {
		if n <= c.hangs {
			time.Sleep(c.hang)
		}
		io.WriteString(cmd.Stdout, "boot-2\n")
		c.mu.Lock()
		c.out--
		c.mu.Unlock()
		cmd.SetExited(0)
	}()
	return nil
}

// TestRebootKeepsOnePollOut (issue 26): a boot id poll that outlives its
// deadline is waited for, not joined by others that would hang on the same
// dead connection and then all log in to the new boot at once.
func TestRebootKeepsOnePollOut(t *testing.T) {
	defer func(d, i time.Duration) { pollDeadline, rebootPollInterval = d, i }(pollDeadline, rebootPollInterval)
	pollDeadline, rebootPollInterval = 20*time.Millisecond, time.Millisecond
	comm := &pollComm{hang: 300 * time.Millisecond, hangs: 1}
	g := &guest{comm: comm, ui: packersdk.TestUi(t)}
	id, err := g.reboot(context.Background(), "boot-1", 10*time.Second)
	if err != nil || id != "boot-2" {
		t.Fatalf("reboot: %q, %v", id, err)
	}
	if comm.max != 1 || comm.polls != 1 {
		t.Errorf("%d polls, at most %d out at once; want the one hung poll waited for", comm.polls, comm.max)
	}
}

// TestProvisionUploadsTheGuestHelper (issue 25): the plugin uploads the
// guest helper for the guest's architecture before the one step that uses
// it (free_space), to a new name, and gives that step the path and the
// helper's SHA-256; no other step gets it, and dry run uploads nothing. A
// guest of an architecture without a helper build gets why instead.
func TestProvisionUploadsTheGuestHelper(t *testing.T) {
	build := []byte("the amd64 helper")
	guestHelperFiles = fstest.MapFS{"guestbin/ami-hygiene-guest-linux-amd64": {Data: build}}
	t.Cleanup(func() { guestHelperFiles = guestBin })
	sum := sha256.Sum256(build)
	for _, c := range []struct {
		name    string
		raw     map[string]interface{}
		probe   string
		uploads int
		why     string
	}{
		{"amd64", map[string]interface{}{}, "", 1, ""},
		{"arm64 without a build", map[string]interface{}{}, "amih:fact\tmachine\taarch64\n", 0, "this plugin was built without its guest helper for linux/arm64"},
		{"riscv", map[string]interface{}{}, "amih:fact\tmachine\triscv64\n", 0, "no guest helper is built for riscv64"},
		{"dry run", map[string]interface{}{"dry_run": true}, "", 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			comm, _, err := provision(t, c.raw, &fakeGuest{probeExtra: c.probe})
			if err != nil {
				t.Fatal(err)
			}
			if len(comm.uploads) != c.uploads {
				t.Fatalf("%d uploads, want %d", len(comm.uploads), c.uploads)
			}
			for _, call := range comm.calls() {
				step := stepOf(call)
				if step == "" || step == "probe" {
					continue
				}
				if step != "free_space" || c.name == "dry run" {
					if !strings.Contains(call.Stdin, "AMIH_HELPER=''") {
						t.Errorf("%s got a guest helper", step)
					}
					continue
				}
				for path, data := range comm.uploads {
					if !regexp.MustCompile(`^/tmp/\.ami-hygiene-guest\.[0-9a-f]{24}$`).MatchString(path) || !bytes.Equal(data, build) {
						t.Errorf("uploaded %q (%d bytes)", path, len(data))
					}
					if !strings.Contains(call.Stdin, "AMIH_HELPER='"+path+"'") || !strings.Contains(call.Stdin, "AMIH_HELPER_SHA256='"+hex.EncodeToString(sum[:])+"'") {
						t.Errorf("free_space does not get the upload's path and hash")
					}
				}
				if c.why != "" && !strings.Contains(call.Stdin, "AMIH_HELPER_WHY='"+c.why+"'") {
					t.Errorf("free_space does not get why: want %q", c.why)
				}
			}
		})
	}
}

// TestProvisionSaysWhenBuiltWithoutTheGuestHelper (issue 36, item 3): a
// plugin built without its guest helper (`go build`, `go install`) says so
// at the start of every build that runs a step using it, naming the builds
// it lacks and how to get a complete plugin; a complete one says nothing.
func TestProvisionSaysWhenBuiltWithoutTheGuestHelper(t *testing.T) {
	both := fstest.MapFS{
		"guestbin/ami-hygiene-guest-linux-amd64": {Data: []byte("amd64")},
		"guestbin/ami-hygiene-guest-linux-arm64": {Data: []byte("arm64")},
	}
	t.Cleanup(func() { guestHelperFiles = guestBin })
	for _, c := range []struct {
		name  string
		files fstest.MapFS
		raw   map[string]interface{}
		want  string
	}{
		{"complete", both, map[string]interface{}{}, ""},
		{"none", fstest.MapFS{}, map[string]interface{}{}, "built without its guest helper for linux/amd64, linux/arm64"},
		{"amd64 only", fstest.MapFS{"guestbin/ami-hygiene-guest-linux-amd64": both["guestbin/ami-hygiene-guest-linux-amd64"]}, map[string]interface{}{}, "built without its guest helper for linux/arm64"},
		{"free_space skipped", fstest.MapFS{}, map[string]interface{}{"skip_steps": []string{"free_space"}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			guestHelperFiles = c.files
			_, _, out, _, err := provisionRun(t, c.raw, &fakeGuest{})
			if err != nil {
				t.Fatal(err)
			}
			n := strings.Count(out, "guest helper for linux/")
			if c.want == "" {
				if n != 0 {
					t.Errorf("a warning about the helper:\n%s", out)
				}
				return
			}
			i := strings.Index(out, c.want)
			if n != 1 || i < 0 || i > strings.Index(out, "[1/") || !strings.Contains(out, "make build") {
				t.Errorf("want one warning %q before the first step, naming `make build`:\n%s", c.want, out)
			}
		})
	}
}

// TestProvisionNeverCleanAfterACrash (issue 36, item 8): the guards that
// keep a crashed or forged run from counting, each needed by a case here:
// a step that exits non-zero without an error record fails (runner.go), an
// audit that crashes gives no verdict, and a completion record with another
// token (a script that prints one of its own) is not the script's end.
func TestProvisionNeverCleanAfterACrash(t *testing.T) {
	for _, c := range []struct {
		name string
		g    *fakeGuest
		err  string
		step string
	}{
		{"a cleaning step crashes", &fakeGuest{status: map[string]int{"logs": 2}}, "step logs failed: logs.sh exited 2", "logs"},
		{"the audit crashes", &fakeGuest{status: map[string]int{"audit": 2}}, "step audit failed: audit.sh exited 2", "audit"},
		{"a forged completion record", &fakeGuest{steps: map[string]string{"logs": "amih:done\tfeedfeedfeedfeedfeedfeed\t0\n"}, unfinished: map[string]bool{"logs": true}},
			"step logs failed", "logs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, rep, err := provision(t, map[string]interface{}{}, c.g)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %v, want %q", err, c.err)
			}
			if rep.Verdict == VerdictClean || rep.Status != "failed" || stepStatus(rep)[c.step] != StatusFailed {
				t.Errorf("status %s, verdict %s, %s %s", rep.Status, rep.Verdict, c.step, stepStatus(rep)[c.step])
			}
		})
	}
}
