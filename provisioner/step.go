package provisioner

import (
	"strconv"
	"strings"
	"time"
)

// stepDef is one step of the checklist, as one record: its name (used in
// `steps`, `skip_steps`, its HCL block and the report), a one-line heading,
// its guest script, what it may change on the guest (for the docs), and how
// to reach its settings in the Config. The catalogue (catalogue.go) lists
// them in their fixed order.
type stepDef struct {
	Name    string
	Title   string
	Script  string
	Touches []string
	// settings returns the step's HCL block(s) from a Config.
	settings func(c *Config) settings
}

// settings is what a step's configuration block provides.
type settings interface {
	// prepare applies defaults and reports problems, naming attributes
	// under the block name attr.
	prepare(v *validator, attr string)
	// env returns the inputs of the guest script.
	env() []envVar
}

// skipper is implemented by settings that can make their step pointless
// (verify without checks, stop_services without services).
type skipper interface {
	skipReason() string
}

// interpreter is implemented by settings that judge the script's records
// themselves (verify matches outputs against expectations).
type interpreter interface {
	interpret(res *StepResult, recs []record)
}

// findingJudge is implemented by settings of checking steps, whose script
// reports findings; failsOnFindings tells whether findings fail the step
// (never in dry run, where the cleaning steps did not run).
type findingJudge interface {
	failsOnFindings() bool
}

// rebootFirster is implemented by settings that may want a reboot before
// their step runs; rebootFirst returns why (the attribute that asks), or "".
type rebootFirster interface {
	rebootFirst() string
}

// envVar is one input of a guest script.
type envVar struct {
	Name, Value string
}

// lines joins list inputs into one newline-separated value; validation
// guarantees that no item contains a newline.
func lines(items []string) string { return strings.Join(items, "\n") }

// seconds renders a duration as whole seconds, at least 1.
func seconds(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// secondsOrZero renders a duration as whole seconds, 0 allowed.
func secondsOrZero(d time.Duration) string {
	if d < time.Second {
		return "0"
	}
	return seconds(d)
}

// flag renders a boolean as "1" or "0".
func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
