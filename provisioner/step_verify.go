//go:generate go tool packer-sdc mapstructure-to-hcl2 -type VerifyCheck
//go:generate go tool packer-sdc struct-markdown

package provisioner

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// VerifyCheck is one `verify` block: a command whose exit code and output
// prove that the image deploys the right code from the right source (the
// right repository, configuration-management server or package source). The
// command runs on the guest through `sh -c`, as root unless `as_user` is set,
// with no standard input. It must not change the guest: it also runs in dry
// run.
type VerifyCheck struct {
	// A name for the check, shown in the output and the report. Default:
	// `verify[N]`.
	Name string `mapstructure:"name"`
	// The shell command to run. Required.
	Command string `mapstructure:"command" required:"true"`
	// Run the command as this user instead of root (with `runuser` or `su`).
	AsUser string `mapstructure:"as_user"`
	// The exit code the command must return. Default `0`.
	ExpectExitCode int `mapstructure:"expect_exit_code"`
	// An RE2 regular expression that the command's output (stdout and
	// stderr together, trailing newlines removed) must match. Default: any
	// output.
	ExpectOutput string `mapstructure:"expect_output"`
	// How long the command may run. Default `5m`.
	CommandTimeout string `mapstructure:"command_timeout"`

	expectOutput   *regexp.Regexp
	commandTimeout time.Duration
}

// verifyConfig groups the repeated `verify` blocks with the top-level
// `reboot_before_verify`.
type verifyConfig struct {
	checks       []VerifyCheck
	rebootBefore bool
}

var verifyStep = stepDef{
	Name:     "verify",
	Title:    "verify that the deployed code comes from the right source",
	Summary:  "runs your checks that the deployed code comes from the right source (optionally after a reboot)",
	Timeout:  5 * time.Minute,
	Verbatim: true,
	Touches:  []string{"nothing but what the `verify` commands do; a reboot first with `reboot_before_verify`"},
	configOf: func(c *Config) stepConfig {
		return &verifyConfig{checks: c.Verify, rebootBefore: c.RebootBeforeVerify}
	},
}

func (s *verifyConfig) prepare(v *validator, attr string) {
	for i := range s.checks {
		c := &s.checks[i]
		at := fmt.Sprintf("%s[%d]", attr, i)
		if c.Name == "" {
			c.Name = at
		}
		if c.Command == "" {
			v.add(at+".command", "is required")
		} else if c.Command != unknown {
			v.safeCommand(at+".command", c.Command)
		}
		if c.AsUser != "" {
			v.userName(at+".as_user", c.AsUser)
		}
		if c.ExpectExitCode < 0 || c.ExpectExitCode > 255 {
			v.add(at+".expect_exit_code", "%d is not an exit code (0 to 255)", c.ExpectExitCode)
		}
		c.expectOutput = v.regex(at+".expect_output", c.ExpectOutput)
		c.commandTimeout = v.wait(at+".command_timeout", c.CommandTimeout, "5m")
	}
}

func (s *verifyConfig) env() []envVar {
	env := []envVar{{"AMIH_CHECK_COUNT", strconv.Itoa(len(s.checks))}}
	for i, c := range s.checks {
		n := strconv.Itoa(i + 1)
		env = append(env,
			envVar{"AMIH_CHECK_" + n + "_COMMAND", c.Command},
			envVar{"AMIH_CHECK_" + n + "_AS_USER", c.AsUser},
			envVar{"AMIH_CHECK_" + n + "_TIMEOUT", seconds(c.commandTimeout)},
		)
	}
	return env
}

// waits: every check's command_timeout.
func (s *verifyConfig) waits() time.Duration {
	var d time.Duration
	for _, c := range s.checks {
		d += c.commandTimeout
	}
	return d
}

func (s *verifyConfig) skipReason() string {
	if len(s.checks) == 0 {
		return "no verify blocks"
	}
	return ""
}

func (s *verifyConfig) rebootFirst() string {
	if s.rebootBefore {
		return "reboot_before_verify"
	}
	return ""
}

// judgeOutput judges each check's exit code and output.
func (s *verifyConfig) judgeOutput(res *StepResult, recs []record) {
	outputs := map[string]string{}
	codes := map[string]int{}
	for _, r := range recs {
		switch r.Kind {
		case "output":
			outputs[r.field(0)] = r.field(1)
		case "count":
			if n, err := strconv.Atoi(r.field(1)); err == nil {
				codes[r.field(0)] = n
			}
		}
	}
	for i, c := range s.checks {
		n := strconv.Itoa(i + 1)
		code, ran := codes["exit_"+n]
		out := outputs[n]
		reason := ""
		switch {
		case !ran:
			reason = "the check did not run"
		case code != c.ExpectExitCode:
			reason = fmt.Sprintf("exit code %d, expected %d; output:\n%s", code, c.ExpectExitCode, out)
		case c.expectOutput != nil && !c.expectOutput.MatchString(out):
			reason = fmt.Sprintf("output does not match %q; output:\n%s", c.ExpectOutput, out)
		}
		if reason != "" {
			res.fail(c.Name + ": " + reason)
		}
		res.Checks = append(res.Checks, Check{Name: c.Name, Passed: reason == ""})
	}
}
