//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config
//go:generate go tool packer-sdc struct-markdown

package provisioner

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// Config is the whole `provisioner "ami-hygiene"` block. Each nested block
// tunes one step of the checklist; an empty block runs the whole checklist
// with safe defaults.
type Config struct {
	common.PackerConfig `mapstructure:",squash"`

	// Run only these steps (still in the fixed order). Names: `wait_for_boot`,
	// `update_packages`, `verify`, `stop_services`, `mail_queue`,
	// `machine_identity`, `access_policy`, `logs`, `caches`, `shell_history`,
	// `credentials`, `authorized_keys`, `secret_scan`, `free_space`,
	// `final_shutdown`, `audit`. Cannot be combined with `skip_steps`.
	// Default: every step.
	Steps []string `mapstructure:"steps"`
	// Run every step but these. Cannot be combined with `steps`.
	SkipSteps []string `mapstructure:"skip_steps"`
	// Run the guest scripts as root through `sudo -n`. Default: true, unless
	// the communicator user is root. A sudo that asks for a password is an
	// error: the build user needs passwordless sudo.
	UseSudo config.Trilean `mapstructure:"use_sudo"`
	// Inspect the guest and report what every step would change, changing
	// nothing: no upgrade, stop, flush, deletion or reboot. `verify` commands
	// still run (they are checks and must not change the guest).
	DryRun bool `mapstructure:"dry_run"`
	// How long each step may run on the guest, by step name, e.g.
	// `{ update_packages = "2h" }`. A step still running then is stopped
	// (the boot's shell on the guest ends its processes) and fails the build.
	// Defaults: `update_packages` 1h, `free_space` 1h, `secret_scan` 30m,
	// `wait_for_boot` 5m more than `boot_timeout` and `min_uptime`, `verify`
	// 5m more than its `command_timeout`s, `mail_queue` 5m more than
	// `flush_timeout`, every other step 10m. Reboots are bounded by
	// `reboot_timeout`.
	StepTimeouts map[string]string `mapstructure:"step_timeouts"`
	// How long to wait for the guest to come back after any reboot the
	// plugin makes (`update_packages`'s, `reboot_before_verify`'s): until its
	// boot id changes and SSH answers again. Default `15m`. It replaces
	// `update_packages.reboot_timeout`, which still works but is deprecated
	// (a warning at the start of the build).
	RebootTimeout string `mapstructure:"reboot_timeout"`
	// Where to write the JSON report, on the machine running Packer. Default:
	// `ami-hygiene-report-<build name>.json` in the current directory, the
	// build named as Packer prints it (`ami-hygiene-report-amazon-ebs.ubuntu.json`
	// for `source.amazon-ebs.ubuntu`; `ami-hygiene-report.json` when Packer
	// gives no build name), so that several sources in one build each write
	// their own file.
	ReportPath string `mapstructure:"report_path"`
	// Where to write the same results as JUnit XML, for CI systems. Default:
	// no JUnit file.
	JUnitPath string `mapstructure:"junit_path"`
	// Reboot the guest once before running the `verify` checks, so that they
	// check what a fresh boot of the image runs, waiting for it like
	// `update_packages` does. Default: false.
	RebootBeforeVerify bool `mapstructure:"reboot_before_verify"`

	// Tunes the `wait_for_boot` step.
	WaitForBoot WaitForBoot `mapstructure:"wait_for_boot"`
	// Tunes the `update_packages` step.
	UpdatePackages UpdatePackages `mapstructure:"update_packages"`
	// One block per check of the `verify` step; repeat the block for more
	// checks. Without any, the step is skipped.
	Verify []VerifyCheck `mapstructure:"verify"`
	// Tunes the `stop_services` step. Without services, the step is skipped.
	StopServices StopServices `mapstructure:"stop_services"`
	// Tunes the `mail_queue` step.
	MailQueue MailQueue `mapstructure:"mail_queue"`
	// Tunes the `machine_identity` step.
	MachineIdentity MachineIdentity `mapstructure:"machine_identity"`
	// Tunes the `access_policy` step.
	AccessPolicy AccessPolicy `mapstructure:"access_policy"`
	// Tunes the `logs` step.
	Logs Logs `mapstructure:"logs"`
	// Tunes the `caches` step.
	Caches Caches `mapstructure:"caches"`
	// Tunes the `shell_history` step.
	ShellHistory ShellHistory `mapstructure:"shell_history"`
	// Tunes the `credentials` step.
	Credentials Credentials `mapstructure:"credentials"`
	// Tunes the `authorized_keys` step.
	AuthorizedKeys AuthorizedKeys `mapstructure:"authorized_keys"`
	// Tunes the `secret_scan` step.
	SecretScan SecretScan `mapstructure:"secret_scan"`
	// Tunes the `free_space` step.
	FreeSpace FreeSpace `mapstructure:"free_space"`
	// Tunes the `final_shutdown` step.
	FinalShutdown FinalShutdown `mapstructure:"final_shutdown"`
	// Tunes the `audit` step.
	Audit Audit `mapstructure:"audit"`

	ctx interpolate.Context
}

// runOptions are the settings of the whole run, shared by every step and
// every reboot: prepared once from the Config, read by the checklist runner.
type runOptions struct {
	dryRun bool
	// rebootTimeout bounds every reboot the plugin makes (reboot_timeout).
	rebootTimeout time.Duration
	// deprecations are the deprecated attributes the configuration uses,
	// each with what to use instead; said at the start of the build.
	deprecations []string
	useSudo      config.Trilean
	build        string
	reportPath   string
	junitPath    string
	// deadlines bound each step's script on the guest, by step name.
	deadlines map[string]time.Duration
}

// defaultStepTimeout bounds a step whose record names no timeout of its own.
const defaultStepTimeout = 10 * time.Minute

// deadline is how long the step's script may run on the guest.
func (o runOptions) deadline(step string) time.Duration {
	if d, ok := o.deadlines[step]; ok && d > 0 {
		return d
	}
	return defaultStepTimeout
}

// stepDeadlines is each step's deadline: step_timeouts, or the step's own
// timeout plus the waits its block asks for.
func (c *Config) stepDeadlines(v *validator) map[string]time.Duration {
	names := stepNames()
	for name := range c.StepTimeouts {
		if !slices.Contains(names, name) {
			v.add("step_timeouts", "unknown step %q; steps are %s", name, quoteList(names))
		}
	}
	out := map[string]time.Duration{}
	for _, s := range catalogue {
		if value, ok := c.StepTimeouts[s.Name]; ok {
			out[s.Name] = v.wait("step_timeouts."+s.Name, value, "")
			continue
		}
		d := s.Timeout
		if d == 0 {
			d = defaultStepTimeout
		}
		if w, ok := s.configOf(c).(waiter); ok {
			d += w.waits()
		}
		out[s.Name] = d
	}
	return out
}

// interpolateFilter keeps Packer's template engine out of the blocks that
// hold the user's own commands, paths and patterns: `{{ }}` there is not a
// Packer template.
func interpolateFilter() *interpolate.RenderFilter {
	var verbatim []string
	for _, s := range catalogue {
		if s.Verbatim {
			verbatim = append(verbatim, s.Name)
		}
	}
	return &interpolate.RenderFilter{Exclude: verbatim}
}

// prepare applies defaults and validates every block, reporting every
// problem at once, and returns the run's options and its plan of steps.
func (c *Config) prepare() (runOptions, []stepDef, error) {
	v := &validator{}
	for _, s := range catalogue {
		s.configOf(c).prepare(v, s.Name)
	}
	c.checkStepLists(v)
	opts := runOptions{
		dryRun:        c.DryRun,
		rebootTimeout: c.rebootTimeout(v),
		useSudo:       c.UseSudo,
		build:         buildName(c.PackerBuildName, c.PackerBuilderType),
		reportPath:    c.ReportPath,
		junitPath:     c.JUnitPath,
		deadlines:     c.stepDeadlines(v),
	}
	opts.deprecations = v.deprecations
	v.localPath("report_path", c.ReportPath)
	v.localPath("junit_path", c.JUnitPath)
	if opts.reportPath == "" {
		opts.reportPath = defaultReportPath(opts.build)
	}
	if err := v.err(); err != nil {
		return runOptions{}, nil, err
	}
	return opts, c.plan(), nil
}

// rebootTimeout is the run-wide `reboot_timeout`, or the deprecated
// `update_packages.reboot_timeout` it replaces (noted in deprecations).
func (c *Config) rebootTimeout(v *validator) time.Duration {
	old := c.UpdatePackages.RebootTimeout
	switch {
	case old != "" && c.RebootTimeout != "":
		v.add("update_packages.reboot_timeout", "is replaced by the top-level reboot_timeout, which is set too: remove this one")
	case old != "":
		v.deprecated("update_packages.reboot_timeout", "use the top-level reboot_timeout (it bounds every reboot the plugin makes, not only this step's)")
		return v.wait("update_packages.reboot_timeout", old, "15m")
	}
	return v.wait("reboot_timeout", c.RebootTimeout, "15m")
}

// checkStepLists checks `steps` and `skip_steps`.
func (c *Config) checkStepLists(v *validator) {
	names := stepNames()
	for _, list := range []struct {
		attr  string
		names []string
	}{{"steps", c.Steps}, {"skip_steps", c.SkipSteps}} {
		seen := map[string]bool{}
		for i, name := range list.names {
			switch {
			case name == unknown:
			case !slices.Contains(names, name):
				v.add(fmt.Sprintf("%s[%d]", list.attr, i), "unknown step %q; steps are %s", name, quoteList(names))
			case seen[name]:
				v.add(fmt.Sprintf("%s[%d]", list.attr, i), "step %q is listed twice", name)
			}
			seen[name] = true
		}
	}
	if len(c.Steps) > 0 && len(c.SkipSteps) > 0 {
		v.add("skip_steps", "cannot be combined with steps: list the steps to run in steps, or the steps to skip in skip_steps")
	}
}

// plan selects the steps to run, in the catalogue's order.
func (c *Config) plan() []stepDef {
	var plan []stepDef
	for _, s := range catalogue {
		if (len(c.Steps) == 0 || slices.Contains(c.Steps, s.Name)) && !slices.Contains(c.SkipSteps, s.Name) {
			plan = append(plan, s)
		}
	}
	return plan
}

// buildName is the build as Packer prints it: `amazon-ebs.ubuntu` for
// source.amazon-ebs.ubuntu, whose PACKER_BUILD_NAME is `ubuntu` alone (two
// sources of one name and different builders are two builds); a legacy JSON
// builder's name is kept as it is when it is the type or starts with it.
func buildName(name, builder string) string {
	if name == "" || builder == "" || name == builder || strings.HasPrefix(name, builder+".") {
		return name
	}
	return builder + "." + name
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultReportPath names the report after the build, so that several
// sources in one build each write their own file.
func defaultReportPath(build string) string {
	build = strings.Trim(unsafeFileChars.ReplaceAllString(build, "-"), "-.")
	if build == "" {
		return "ami-hygiene-report.json"
	}
	return "ami-hygiene-report-" + build + ".json"
}
