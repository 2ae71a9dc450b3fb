//go:generate go tool packer-sdc mapstructure-to-hcl2 -type UpdatePackages
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "time"

// UpdatePackages configures the `update_packages` step: refresh the package
// lists and upgrade every package non-interactively, keeping existing
// configuration files (apt-get dist-upgrade with --force-confold, dnf/yum
// upgrade, zypper update, apk upgrade), then reboot when `reboot` says so and
// wait for the new boot.
type UpdatePackages struct {
	// When to reboot after upgrading: `always`, `if-required` (when
	// `/var/run/reboot-required` exists, `needs-restarting -r` or `zypper
	// needs-rebooting` say so, or a newer kernel than the running one is
	// installed) or `never`. Default `if-required`. The reboot is detached;
	// the plugin then waits until the guest's boot id changes and
	// `wait_for_boot`'s checks pass again.
	Reboot string `mapstructure:"reboot"`
	// Deprecated: use the top-level `reboot_timeout`, which bounds every
	// reboot the plugin makes. Still honoured, with a warning at the start of
	// the build; setting both is an error.
	RebootTimeout string `mapstructure:"reboot_timeout"`
}

var updatePackagesStep = stepDef{
	Name:    "update_packages",
	Title:   "update all packages and reboot when needed",
	Summary: "upgrades every package non-interactively and reboots when needed, then waits for the new boot",
	Timeout: time.Hour,
	Touches: []string{
		"installed packages and the package manager's database and caches",
		"a reboot, when `reboot` asks for one",
	},
	configOf: func(c *Config) stepConfig { return &c.UpdatePackages },
}

func (s *UpdatePackages) prepare(v *validator, attr string) {
	v.choose(attr, &s.Reboot, choiceOf("update_packages", "reboot"))
}

func (s *UpdatePackages) env() []envVar {
	return []envVar{{"AMIH_REBOOT", s.Reboot}}
}
