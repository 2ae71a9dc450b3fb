//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config,WaitForBoot,UpdatePackages,VerifyCheck,StopServices,MailQueue,MachineIdentity,Logs,Caches,AccessPolicy,ShellHistory,Credentials,AuthorizedKeys,SecretScan,Audit
//go:generate go tool packer-sdc struct-markdown

package provisioner

import (
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
	// `credentials`, `authorized_keys`, `secret_scan`, `audit`. Cannot be
	// combined with `skip_steps`. Default: every step.
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
	// Where to write the JSON report, on the machine running Packer. Default:
	// `ami-hygiene-report-<build name>.json` in the current directory (or
	// `ami-hygiene-report.json` when Packer gives no build name), so that
	// several sources in one build each write their own file.
	ReportPath string `mapstructure:"report_path"`
	// Where to write the same results as JUnit XML, for CI systems. Default:
	// no JUnit file.
	JUnitPath string `mapstructure:"junit_path"`
	// Reboot the guest once before running the `verify` checks (the seed's
	// "boot it up again just in case"), waiting for it like `update_packages`
	// does. Default: false.
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
	// Tunes the `audit` step.
	Audit Audit `mapstructure:"audit"`

	ctx interpolate.Context
}
