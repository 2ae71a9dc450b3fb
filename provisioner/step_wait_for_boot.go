//go:generate go tool packer-sdc mapstructure-to-hcl2 -type WaitForBoot
//go:generate go tool packer-sdc struct-markdown

package provisioner

import (
	"time"

	"github.com/hashicorp/packer-plugin-sdk/template/config"
)

// WaitForBoot configures the `wait_for_boot` step: wait until boot has really
// completed before touching anything. It waits for systemd to be `running` or
// `degraded` (failed units become warnings), for cloud-init (`cloud-init
// status --wait`: exit 2, finished with recoverable errors, is a warning; a
// cloud-init that has not run in a finished boot — because an earlier run of
// the same build cleaned its state, or it is disabled — is not waited for,
// whatever its version calls that: `not run`, `not running`, `not started`,
// `disabled`), reports failures in
// `/var/log/boot.log` and this boot's journal, waits until the uptime
// reaches `min_uptime`, and until no package manager runs. It runs again
// after every reboot the plugin makes.
type WaitForBoot struct {
	// How long to wait for all of the above. Default `15m`.
	BootTimeout string `mapstructure:"boot_timeout"`
	// The least uptime before the checklist goes on: services that finish
	// their first-boot work late (caches warmed, first timers run) get the
	// time to do it before the image is taken, e.g. `"5m"`. Default `0s`.
	MinUptime string `mapstructure:"min_uptime"`
	// Keep apt-daily, apt-daily-upgrade, unattended-upgrades and dnf-automatic
	// from taking the package manager lock for the rest of the build, with
	// `systemctl mask --runtime` (gone at the next boot, never in the image).
	// Default `true`.
	HoldAutomaticUpdates config.Trilean `mapstructure:"hold_automatic_updates"`
	// What a failed cloud-init does: `fail` the build, or `warn` and go on.
	// Either way the output shows what cloud-init itself says went wrong
	// (`cloud-init status --long`: its errors and the failing modules).
	// Default `fail`.
	CloudInitErrors string `mapstructure:"cloud_init_errors"`

	bootTimeout, minUptime time.Duration
}

var waitForBootStep = stepDef{
	Name:    "wait_for_boot",
	Title:   "wait until boot has really completed",
	Summary: "waits until boot has really completed: cloud-init, systemd, boot log, journal, `min_uptime`, package-manager lock",
	Timeout: 5 * time.Minute,
	Touches: []string{
		"nothing on disk; for this boot only, runtime masks in /run/systemd for apt-daily, apt-daily-upgrade, unattended-upgrades and dnf-automatic",
	},
	configOf: func(c *Config) stepConfig { return &c.WaitForBoot },
}

func (s *WaitForBoot) prepare(v *validator, attr string) {
	s.bootTimeout = v.wait(attr+".boot_timeout", s.BootTimeout, "15m")
	s.minUptime = v.duration(attr+".min_uptime", s.MinUptime, "0s")
	v.choose(attr, &s.CloudInitErrors, choiceOf("wait_for_boot", "cloud_init_errors"))
}

// waits: boot_timeout and min_uptime.
func (s *WaitForBoot) waits() time.Duration { return s.bootTimeout + s.minUptime }

func (s *WaitForBoot) env() []envVar {
	return []envVar{
		{"AMIH_BOOT_TIMEOUT", seconds(s.bootTimeout)},
		{"AMIH_MIN_UPTIME", secondsOrZero(s.minUptime)},
		{"AMIH_HOLD_AUTO_UPDATES", flag(!s.HoldAutomaticUpdates.False())},
		{"AMIH_CLOUD_INIT_ERRORS", s.CloudInitErrors},
	}
}
