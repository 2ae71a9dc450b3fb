//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Caches
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// Caches configures the `caches` step: empty `/tmp` and `/var/tmp` (except
// the plugin's own running script, `systemd-private-*` directories of
// running services and the X11/ICE socket directories; a tmpfs is left
// alone, it is not part of the image), the package managers' download and
// metadata caches (apt, dnf, yum, zypper, apk), the build caches of root and
// every user (`~/.cache/pip`, `~/.cache/go-build`, `~/.npm/_cacache`), crash
// dumps, and the backups
// of the account files (`/etc/passwd-`, `/etc/shadow-`, ...).
type Caches struct {
	// Entries of `/tmp` and `/var/tmp` to keep, as shell patterns where `*`
	// also matches `/`, e.g. `["/var/tmp/build-cache*"]`.
	Exclude []string `mapstructure:"exclude"`
	// Also remove apt's package lists (`/var/lib/apt/lists/*`): a smaller
	// image that needs `apt-get update` before its first install. Default
	// `false`.
	RemovePackageLists bool `mapstructure:"remove_package_lists"`
}

var cachesStep = stepDef{
	Name:     "caches",
	Title:    "empty temporary files and caches",
	Summary:  "empties `/tmp`, `/var/tmp`, package caches, crash dumps and account-file backups (`/etc/shadow-` and co., which locking the passwords just wrote)",
	Verbatim: true,
	Touches: []string{
		"every entry of /tmp and /var/tmp (not on a tmpfs), except the running script, systemd-private-*, .X11-unix, .ICE-unix, .XIM-unix, .font-unix, .Test-unix and `exclude`",
		"/var/cache/apt/archives/*.deb, /var/cache/apt/archives/partial/*, /var/cache/apt/*.bin, /var/cache/dnf/*, /var/cache/yum/*, /var/cache/zypp/packages/*, /var/cache/apk/*",
		"with `remove_package_lists`: /var/lib/apt/lists/* (not `lock` and `partial`)",
		"~/.cache/pip/, ~/.cache/go-build/, ~/.npm/_cacache/ of root and every passwd user",
		"/var/crash/*, /var/spool/abrt/*, /var/lib/systemd/coredump/*",
		"/etc/passwd-, /etc/shadow-, /etc/group-, /etc/gshadow-, /etc/subuid-, /etc/subgid-",
	},
	configOf: func(c *Config) stepConfig { return &c.Caches },
}

func (s *Caches) prepare(v *validator, attr string) {
	for i, g := range s.Exclude {
		v.guestGlob(fmt.Sprintf("%s.exclude[%d]", attr, i), g, "/tmp/", "/var/tmp/")
	}
}

func (s *Caches) env() []envVar {
	return []envVar{{"AMIH_EXCLUDE", lines(s.Exclude)}, {"AMIH_PACKAGE_LISTS", flag(s.RemovePackageLists)}}
}
