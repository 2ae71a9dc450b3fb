//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AccessPolicy
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "github.com/hashicorp/packer-plugin-sdk/template/config"

// AccessPolicy configures the `access_policy` step: the access rules AWS
// Marketplace's scanner and the shared-AMI guidance ask for. It locks the
// root password and every empty password (`usermod -L`, or `passwd -l`;
// where sshd runs without PAM, as on Alpine, whose sshd refuses even key
// logins to a locked account, the password is set to `*` instead), and
// makes sshd refuse passwords: `PasswordAuthentication no`,
// `PermitEmptyPasswords no`, `PermitRootLogin` as set below and
// `KbdInteractiveAuthentication no` (with PAM, keyboard-interactive asks for
// the password too; it is left alone, with a warning, where
// `AuthenticationMethods` uses it as a second factor), in a drop-in
// `/etc/ssh/sshd_config.d/00-ami-hygiene.conf` when `sshd_config` includes
// that directory first, otherwise in a marked block at the top of
// `sshd_config` (sshd takes the first value it reads). Where only the vendor
// file `/usr/etc/ssh/sshd_config` exists (openSUSE, SLE 16), it is read and
// never written: the drop-in it includes, or a new `/etc/ssh/sshd_config`
// made from it, carries the settings. The result is checked
// with `sshd -t` (a broken configuration is put back and the step fails) and
// with `sshd -T` (a setting that something else overrides fails the step).
// sshd is not reloaded: the rules are for the image; the build's own
// connection is not affected. Every change is reported.
type AccessPolicy struct {
	// Lock root's password (key logins keep working). Default `true`.
	LockRootPassword config.Trilean `mapstructure:"lock_root_password"`
	// Lock every account whose password is empty. Default `true`.
	LockEmptyPasswords config.Trilean `mapstructure:"lock_empty_passwords"`
	// Write the sshd settings. Default `true`.
	SSHDConfig config.Trilean `mapstructure:"sshd_config"`
	// sshd's `PermitRootLogin`: `prohibit-password` (keys only), `no` or
	// `forced-commands-only`. Default `prohibit-password`. A stricter value
	// the image already has (`no` where this says `prohibit-password`) is
	// kept, never weakened, and the output says so.
	PermitRootLogin string `mapstructure:"permit_root_login"`
}

var accessPolicyStep = stepDef{
	Name:    "access_policy",
	Title:   "lock passwords and refuse password logins",
	Summary: "locks root's and empty passwords; sshd: no passwords, root by key only (checked with `sshd -t`)",
	Touches: []string{
		"/etc/shadow: root's password locked; every empty password locked (through usermod -L or passwd -l)",
		"/etc/ssh/sshd_config.d/00-ami-hygiene.conf, or a block between `# BEGIN ami-hygiene` and `# END ami-hygiene` at the top of /etc/ssh/sshd_config",
	},
	configOf: func(c *Config) stepConfig { return &c.AccessPolicy },
}

func (s *AccessPolicy) prepare(v *validator, attr string) {
	v.choose(attr, &s.PermitRootLogin, choiceOf("access_policy", "permit_root_login"))
}

func (s *AccessPolicy) env() []envVar {
	return []envVar{
		{"AMIH_LOCK_ROOT", flag(!s.LockRootPassword.False())},
		{"AMIH_LOCK_EMPTY", flag(!s.LockEmptyPasswords.False())},
		{"AMIH_SSHD", flag(!s.SSHDConfig.False())},
		{"AMIH_PERMIT_ROOT_LOGIN", s.PermitRootLogin},
	}
}
