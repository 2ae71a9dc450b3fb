package provisioner

import "time"

// stepDef is one step of the checklist, as one record: its name (used in
// `steps`, `skip_steps`, its HCL block and the report), a one-line heading,
// what it may change on the guest (for the docs), and how to reach its
// block in the Config. The catalogue (catalogue.go) lists them in their
// fixed order.
type stepDef struct {
	Name  string
	Title string
	// Summary is what the step does, in one sentence: its row in the docs'
	// overview table.
	Summary string
	Touches []string
	// Script is the guest script, when it is not named after the step
	// (<Name>.sh).
	Script string
	// Timeout bounds the step's script on the guest (default 10m), on top of
	// the waits its block asks for (waiter); step_timeouts overrides both.
	Timeout time.Duration
	// Secrets: what the step removes or empties may hold secrets, so every
	// regular file it removes or truncates is overwritten with zeros first
	// (lib.sh overwrite): the image's freed blocks do not keep it.
	Secrets bool
	// Helper: the step's script uses the guest helper (guest_helper.go),
	// which the plugin uploads before it runs (not in dry run).
	Helper bool
	// Verbatim: the block holds the user's own commands, paths or patterns,
	// in which `{{ }}` is not a Packer template (no interpolation).
	Verbatim bool
	// configOf returns the step's block from a Config.
	configOf func(c *Config) stepConfig
}

// script is the name of the step's guest script.
func (d stepDef) script() string {
	if d.Script != "" {
		return d.Script
	}
	return d.Name + ".sh"
}

// stepConfig is a step's HCL block, as the checklist uses it: prepared once
// (defaults and validation), then turned into the inputs of the step's
// guest script. A block may also implement the optional capabilities below,
// which the checklist runner asks for; a step never learns about another,
// but through the links of stepLinks.
type stepConfig interface {
	// prepare applies defaults and reports problems, naming attributes
	// under the block name attr.
	prepare(v *validator, attr string)
	// env returns the inputs of the guest script.
	env() []envVar
}

// skipper is a block that can make its step pointless (verify without
// checks, stop_services without services): skipReason says why, or "".
type skipper interface {
	skipReason() string
}

// rebootFirster is a block that may want a reboot before its step runs;
// rebootFirst returns why (the attribute that asks), or "".
type rebootFirster interface {
	rebootFirst() string
}

// waiter is a block whose settings make its step wait (boot_timeout,
// flush_timeout, command_timeout): its deadline grows by waits.
type waiter interface {
	waits() time.Duration
}

// outputJudge is a block that judges the script's records itself (verify
// matches outputs against expectations).
type outputJudge interface {
	judgeOutput(res *StepResult, recs []record)
}

// findingJudge is a block of a checking step, whose script reports
// findings; failsOnFindings tells whether findings fail the step (never in
// dry run, where the cleaning steps did not run).
type findingJudge interface {
	failsOnFindings() bool
}

// verdictGiver is the block of the step whose findings are the report's
// verdict (the audit).
type verdictGiver interface {
	givesVerdict()
}

// stepLinks are the only settings a step reads beyond its own block (its
// configOf reads them; each is documented on the attribute that follows
// it), by step: the audit checks by default the services `stop_services`
// stopped, and takes the keys of `authorized_keys.keep_users` as no
// finding; `verify` reboots first with the run-wide `reboot_before_verify`.
// TestStepsReadOnlyTheirOwnBlocks fails on any other.
var stepLinks = map[string][]string{
	"audit":  {"stop_services", "authorized_keys"},
	"verify": {"reboot_before_verify"},
}
