package provisioner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/version"
)

// checklistRunner executes the plan once: config and plan in, typed results
// out, rendered as UI lines and report files. Steps never see each other;
// the runner alone reboots, and after each reboot runs the boot check again.
type checklistRunner struct {
	// config holds the steps' blocks; options the run-wide settings.
	config  *Config
	options runOptions
	plan    []stepDef
	ui      packersdk.Ui
	guest   *guest
	report  Report
	bootID  string
	// audited: the step that gives the verdict ran to its judgement.
	audited bool
}

// execute runs every step of the plan, writes the reports, and returns an
// error naming the first failed step.
func (r *checklistRunner) execute(ctx context.Context) error {
	r.report = Report{
		SchemaVersion: 1,
		Findings:      []Finding{},
		Steps:         []StepResult{},
		Plugin:        "packer-plugin-ami-hygiene " + version.PluginVersion.FormattedVersion(),
		Build:         r.options.build,
		DryRun:        r.options.dryRun,
		Started:       time.Now().UTC(),
		Guest:         GuestFacts{Detected: map[string]string{}, BootIDs: []string{}},
	}
	for _, d := range r.options.deprecations {
		r.ui.Error("ami-hygiene: warning: " + d)
	}
	if notice := MissingGuestHelperNotice(); notice != "" && slices.ContainsFunc(r.plan, func(d stepDef) bool { return d.Helper }) {
		r.ui.Error("ami-hygiene: warning: " + notice)
	}
	if r.options.dryRun {
		r.ui.Say("ami-hygiene: dry run: inspecting only, nothing on the guest will change")
	}
	err := r.probe(ctx)
	if err == nil {
		err = r.steps(ctx)
	}
	r.report.Finished = time.Now().UTC()
	r.report.Verdict = r.verdict()
	r.report.Status = "succeeded"
	if err != nil {
		r.report.Status, r.report.Error = "failed", err.Error()
	}
	if len(r.report.Steps) > 0 {
		r.ui.Say("ami-hygiene summary:\n" + r.report.summary())
	}
	if werr := r.writeReports(); werr != nil && err == nil {
		err = werr
	}
	return err
}

// probeDeadline bounds the probe: it only reads a few facts.
const probeDeadline = 2 * time.Minute

// probe opens the boot's root shell (which decides whether sudo is needed,
// unless use_sudo says) and reads the guest's facts in it. The facts every
// step relies on must be there: a guest that ran nothing (the `none`
// communicator, a shell that is not one) fails here, before any step. Where
// the communicator cannot keep a shell's input open, the probe runs in a
// session of its own as the SSH user, as each script does after it.
func (r *checklistRunner) probe(ctx context.Context) error {
	if r.options.useSudo != config.TriUnset {
		r.guest.sudo, r.guest.sudoKnown = r.options.useSudo.True(), true
	}
	r.guest.shell = true
	err := r.guest.openShell(ctx)
	switch {
	case errors.Is(err, errNoShell):
		r.guest.shell = false
		r.fact("transport", "one session a script ("+err.Error()+")")
		r.ui.Say("ami-hygiene: " + err.Error() + ": each script runs in a session of its own")
	case err != nil:
		return fmt.Errorf("ami-hygiene: %w", err)
	case r.guest.heredoc:
		r.fact("transport", "one shell a boot")
	default:
		r.fact("transport", "one shell a boot (scripts through a temporary file: sh cannot open /dev/fd/3)")
	}
	// In a session of its own, the probe runs as the SSH user (sudo is not
	// decided yet).
	sudo := r.guest.sudo
	if !r.guest.shell {
		r.guest.sudo = false
	}
	facts := map[string]string{}
	body := scriptBody(nil, "probe.sh")
	status, err := r.guest.executeRetrying(ctx, "the guest probe", probeDeadline, func(int) string { return body }, func(rec record) {
		if rec.Kind == "fact" {
			facts[rec.field(0)] = rec.field(1)
		}
	})
	r.guest.sudo = sudo
	if errors.Is(err, errNotRun) {
		return fmt.Errorf("ami-hygiene: %w; the guest probe printed nothing (is the communicator \"none\"? ami-hygiene runs its checklist through a communicator that runs commands, such as ssh)", err)
	}
	if err != nil {
		return fmt.Errorf("ami-hygiene: cannot run commands on the guest: %w", err)
	}
	if status != 0 {
		return fmt.Errorf("ami-hygiene: the guest probe exited %d; the guest needs a POSIX sh, mktemp and cat", status)
	}
	if missing := facts["missing_tools"]; missing != "" {
		return fmt.Errorf("ami-hygiene: the guest lacks %s on the PATH of user %q; every step relies on these basic tools (coreutils, findutils, grep, sed and an awk provide them; busybox does too)", missing, facts["user"])
	}
	var lacking []string
	for _, fact := range []string{"user", "uid", "boot_id", "os_id"} {
		if facts[fact] == "" {
			lacking = append(lacking, fact)
		}
	}
	if len(lacking) > 0 {
		return fmt.Errorf("ami-hygiene: the guest probe could not read %s (id, /proc/sys/kernel/random/boot_id, the ID of /etc/os-release); the checklist needs them to know what it runs on", strings.Join(lacking, ", "))
	}
	g := &r.report.Guest
	g.User, g.OSID, g.OSVersionID, g.OSPrettyName = facts["user"], facts["os_id"], facts["os_version_id"], facts["os_pretty_name"]
	g.KernelBefore, g.KernelAfter = facts["kernel"], facts["kernel"]
	if facts["machine"] != "" {
		// uname -m: which build of the guest helper it runs.
		r.fact("machine", facts["machine"])
	}
	r.bootID = facts["boot_id"]
	g.BootIDs = []string{r.bootID}
	if !r.guest.sudoKnown {
		// Decided by the probe, in a session of its own.
		r.guest.sudo, r.guest.sudoKnown = facts["uid"] != "0", true
	}
	if !r.guest.shell && r.guest.sudo {
		if err := r.checkSudo(ctx); err != nil {
			return err
		}
	}
	g.UsedSudo = r.guest.sudo
	if !r.guest.sudo && facts["uid"] != "0" {
		r.ui.Say(fmt.Sprintf("ami-hygiene: warning: use_sudo = false and user %q is not root: steps that change system files will fail", g.User))
	}
	through := ""
	if r.guest.sudo {
		through = " (through sudo)"
	}
	r.ui.Say(fmt.Sprintf("ami-hygiene: guest %s, kernel %s, user %s%s", orUnknown(g.OSPrettyName), g.KernelBefore, g.User, through))
	return nil
}

// checkSudo proves, in a session of its own, that sudo works without a
// password and makes the scripts root (where there is no boot shell to do
// it).
func (r *checklistRunner) checkSudo(ctx context.Context) error {
	user := r.report.Guest.User
	uid, status, err := r.guest.fixed(ctx, sudoCheckCommand, pollDeadline)
	if err != nil {
		return fmt.Errorf("ami-hygiene: checking sudo: %w", err)
	}
	if status != 0 {
		return fmt.Errorf("ami-hygiene: use_sudo: `sudo -n` does not work for user %q (it wants a password or is not allowed); give the build user passwordless sudo, connect as root, or set use_sudo = false", user)
	}
	if uid != "0" {
		return fmt.Errorf("ami-hygiene: use_sudo: `sudo -n id -u` answers %q, not 0: sudo does not make user %q root", uid, user)
	}
	return nil
}

// steps runs the plan in order and stops at the first failure.
func (r *checklistRunner) steps(ctx context.Context) error {
	total := len(r.plan)
	for i, def := range r.plan {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.ui.Say(fmt.Sprintf("ami-hygiene [%d/%d] %s: %s", i+1, total, def.Name, def.Title))
		res := r.step(ctx, def)
		r.report.Steps = append(r.report.Steps, res)
		r.report.Findings = append(r.report.Findings, res.Findings...)
		if _, ok := def.configOf(r.config).(verdictGiver); ok {
			// A failed audit counts when its findings failed it, not its script.
			r.audited = r.audited || res.Status != StatusSkipped && (res.Status != StatusFailed || len(res.Findings) > 0)
		}
		r.ui.Say(fmt.Sprintf("ami-hygiene [%d/%d] %s: %s in %.1fs%s", i+1, total, def.Name, res.Status, res.DurationSeconds, describeChanges(res)))
		if res.Status == StatusFailed {
			return fmt.Errorf("ami-hygiene: step %s failed: %s", def.Name, res.Error)
		}
	}
	return nil
}

// step runs one step: its optional reboot first, its script, its own
// judgement of the records, then a reboot when the script asked for one.
func (r *checklistRunner) step(ctx context.Context, def stepDef) (res StepResult) {
	start := time.Now()
	cfg := def.configOf(r.config)
	res = StepResult{Name: def.Name, Title: def.Title, Actions: []Action{}}
	r.guest.takeSpent()
	defer func() {
		res.DurationSeconds = time.Since(start).Seconds()
		res.GuestSeconds = r.guest.takeSpent().Seconds()
	}()
	if s, ok := cfg.(skipper); ok {
		if reason := s.skipReason(); reason != "" {
			res.Status, res.SkipReason = StatusSkipped, reason
			return res
		}
	}
	if s, ok := cfg.(rebootFirster); ok && s.rebootFirst() != "" {
		r.rebootAndWait(ctx, &res, s.rebootFirst())
		if res.Status == StatusFailed {
			return res
		}
	}
	r.runScript(ctx, def, cfg, &res)
	if res.Status == StatusFailed {
		return res
	}
	if res.rebootReason != "" {
		r.rebootAndWait(ctx, &res, res.rebootReason)
		if res.Status == StatusFailed {
			return res
		}
	}
	switch {
	case len(res.Actions) == 0:
		res.Status = StatusOK
	case r.options.dryRun:
		res.Status = StatusWouldChange
	default:
		res.Status = StatusChanged
	}
	return res
}

// runScript runs a step's guest script with the step's settings and folds
// its records into res.
func (r *checklistRunner) runScript(ctx context.Context, def stepDef, cfg stepConfig, res *StepResult) {
	script := def.script()
	var recs []record
	var cut []Action // what attempts cut short had already changed
	before := *res
	attempts := 0
	status, err := r.guest.executeRetrying(ctx, script, r.options.deadline(def.Name),
		func(attempt int) string {
			cut = append(cut, res.Actions[len(before.Actions):]...)
			recs, *res, attempts = nil, before, attempt
			res.Actions = append([]Action{}, before.Actions...)
			// Each attempt its own upload: the script removes it
			// once it has its own copy.
			var helper guestHelper
			if def.Helper && !r.options.dryRun {
				helper = r.uploadHelper(ctx)
			}
			return stepScript(r.options, def, cfg, helper)
		},
		func(rec record) { recs = append(recs, rec); r.fold(res, rec) })
	if attempts > 1 {
		res.Actions = mergeActions(res.Actions, cut)
		res.Warnings = append(res.Warnings, fmt.Sprintf("the SSH session was cut; %s ran %d times (the actions of the cut attempts are kept)", script, attempts))
	}
	switch {
	case errors.Is(err, errDeadline):
		res.fail(fmt.Sprintf("%s: %v (step_timeouts.%s)", script, err, def.Name))
		return
	case err != nil:
		res.fail(fmt.Sprintf("running %s on the guest: %v", script, err))
		return
	case status != 0 && res.Status != StatusFailed:
		res.fail(fmt.Sprintf("%s exited %d", script, status))
	}
	if judge, ok := cfg.(outputJudge); ok && res.Status != StatusFailed {
		judge.judgeOutput(res, recs)
	}
	if judge, ok := cfg.(findingJudge); ok && res.Status != StatusFailed && len(res.Findings) > 0 {
		r.judgeFindings(res, judge.failsOnFindings())
	}
}

// mergeActions adds to actions those of extra it does not hold yet.
func mergeActions(actions, extra []Action) []Action {
	for _, a := range extra {
		if !slices.Contains(actions, a) {
			actions = append(actions, a)
		}
	}
	return actions
}

// judgeFindings fails the step on its findings, or keeps them as warnings.
func (r *checklistRunner) judgeFindings(res *StepResult, fail bool) {
	lines := make([]string, len(res.Findings))
	for i, f := range res.Findings {
		lines[i] = "  " + f.String()
	}
	summary := fmt.Sprintf("%d finding(s):\n%s", len(res.Findings), strings.Join(lines, "\n"))
	switch {
	case r.options.dryRun:
		res.Warnings = append(res.Warnings, "dry run: "+summary+"\n(not judged: the cleaning steps did not run)")
	case fail:
		res.fail(summary)
	default:
		res.Warnings = append(res.Warnings, summary)
	}
}

// verdict is the audit's judgement of the run.
func (r *checklistRunner) verdict() string {
	switch {
	case !r.audited:
		return VerdictNotAudited
	case r.options.dryRun:
		return VerdictDryRunAudit
	case len(r.report.Findings) > 0:
		return VerdictFindings
	default:
		return VerdictClean
	}
}

// fold adds one record to a step's result and echoes it to the UI.
func (r *checklistRunner) fold(res *StepResult, rec record) {
	switch rec.Kind {
	case "change":
		a := Action{Verb: rec.field(0), Target: rec.field(1), Detail: rec.field(2)}
		res.Actions = append(res.Actions, a)
		prefix := ""
		if r.options.dryRun {
			prefix = "would "
		}
		r.ui.Message(strings.TrimRight(fmt.Sprintf("  %s%s %s %s", prefix, a.Verb, a.Target, a.Detail), " "))
	case "info":
		res.Info = append(res.Info, rec.field(0))
		r.ui.Message("  " + rec.field(0))
	case "warn":
		res.Warnings = append(res.Warnings, rec.field(0))
		r.ui.Message("  warning: " + rec.field(0))
	case "count":
		if n, err := strconv.Atoi(rec.field(1)); err == nil {
			if res.Counts == nil {
				res.Counts = map[string]int{}
			}
			res.Counts[rec.field(0)] = n
		}
	case "finding":
		f := Finding{Check: rec.field(0), Target: rec.field(1), Detail: rec.field(2)}
		res.Findings = append(res.Findings, f)
		r.ui.Message("  finding: " + f.String())
	case "fact":
		r.fact(rec.field(0), rec.field(1))
	case "reboot":
		res.rebootReason = rec.field(0)
	case "error":
		res.fail(rec.field(0))
		r.ui.Error("  " + rec.field(0))
	case "output":
		// Judged with all the step's records (outputJudge).
	default:
		// A kind the wire does not declare (wire.go): a script and the
		// plugin disagree, and nothing of it may vanish silently.
		why := "undeclared"
		if knownRecordKind(rec.Kind) {
			why = "unhandled"
		}
		res.fail(fmt.Sprintf("the guest script printed an %s record kind %q", why, rec.Kind))
	}
}

// fact records a guest fact a script reported.
func (r *checklistRunner) fact(key, value string) {
	g := &r.report.Guest
	switch key {
	case "kernel":
		g.KernelAfter = value
	case "boot_id":
		// Boot ids are tracked by the run itself.
	default:
		g.Detected[key] = value
	}
}

// rebootAndWait reboots the guest, waits for its new boot, and runs the boot
// check again.
func (r *checklistRunner) rebootAndWait(ctx context.Context, res *StepResult, reason string) {
	if r.options.dryRun {
		res.Actions = append(res.Actions, Action{Verb: "reboot", Target: "guest", Detail: reason})
		r.ui.Message("  would reboot: " + reason)
		return
	}
	r.ui.Say("ami-hygiene: rebooting the guest: " + reason)
	start := time.Now()
	id, err := r.guest.reboot(ctx, r.bootID, r.options.rebootTimeout)
	if err != nil {
		res.fail(err.Error())
		return
	}
	r.bootID = id
	r.report.Guest.BootIDs = append(r.report.Guest.BootIDs, id)
	r.report.Guest.Reboots++
	r.report.Guest.RebootReasons = append(r.report.Guest.RebootReasons, reason)
	res.Actions = append(res.Actions, Action{Verb: "reboot", Target: "guest", Detail: reason})
	r.ui.Say(fmt.Sprintf("ami-hygiene: the guest is back after %.1fs (boot id %s); checking boot again", time.Since(start).Seconds(), id))
	check := StepResult{}
	r.runScript(ctx, bootCheck, bootCheck.configOf(r.config), &check)
	res.Warnings = append(res.Warnings, check.Warnings...)
	if check.Status == StatusFailed {
		res.fail("after the reboot: " + check.Error)
	}
}

// writeReports writes the JSON report and, when asked, the JUnit file.
func (r *checklistRunner) writeReports() error {
	if err := r.report.writeJSON(r.options.reportPath); err != nil {
		return fmt.Errorf("ami-hygiene: writing report_path %s: %w", r.options.reportPath, err)
	}
	if r.options.junitPath == "" {
		r.ui.Say("ami-hygiene: report written to " + r.options.reportPath)
		return nil
	}
	if err := r.report.writeJUnit(r.options.junitPath); err != nil {
		return fmt.Errorf("ami-hygiene: writing junit_path %s: %w", r.options.junitPath, err)
	}
	r.ui.Say("ami-hygiene: report written to " + r.options.reportPath + ", JUnit to " + r.options.junitPath)
	return nil
}

func describeChanges(res StepResult) string {
	switch {
	case res.Status == StatusSkipped:
		return " (" + res.SkipReason + ")"
	case len(res.Actions) == 0:
		return ""
	case res.Status == StatusWouldChange:
		return fmt.Sprintf(", would change %d item(s)", len(res.Actions))
	default:
		return fmt.Sprintf(", changed %d item(s)", len(res.Actions))
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown OS)"
	}
	return s
}
