//go:generate go tool packer-sdc mapstructure-to-hcl2 -type AuthorizedKeys
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// AuthorizedKeys configures the `authorized_keys` step: remove
// `~/.ssh/authorized_keys` and `~/.ssh/authorized_keys2` of root and every
// passwd user, and every `AuthorizedKeysFile` location sshd is configured
// with (from `sshd -T`). Only `free_space`, `final_shutdown` (which touch
// nothing a connection needs) and the read-only checks come after it: the
// build goes on over the SSH connection that is already open, which sshd
// never authenticates again, so removing the key that opened it is safe; the
// plugin never reboots or reconnects after this step. Instances made from
// the image get their key from cloud-init (or the cloud's agent) at launch.
type AuthorizedKeys struct {
	// Users whose keys stay, e.g. a break-glass account baked on purpose.
	// An AuthorizedKeysFile that every user shares (an absolute path without
	// `%h`, `%u` or `%U`, such as `/etc/ssh/breakglass_keys`) then stays too:
	// it may hold their keys.
	KeepUsers []string `mapstructure:"keep_users"`
}

var authorizedKeysStep = stepDef{
	Name:    "authorized_keys",
	Title:   "clean every authorized_keys",
	Summary: "removes every `authorized_keys` — the last step that removes anything a connection needs",
	Secrets: true,
	Touches: []string{
		"~/.ssh/authorized_keys and ~/.ssh/authorized_keys2 of root and every passwd user but `keep_users`",
		"every AuthorizedKeysFile location of sshd's configuration (%h, %u, %U expanded per user; a location every user shares stays when `keep_users` is set)",
		"/run/ami-hygiene/no-reconnect (in memory, gone at the next boot: no reboot in the rest of the build)",
	},
	configOf: func(c *Config) stepConfig { return &c.AuthorizedKeys },
}

func (s *AuthorizedKeys) prepare(v *validator, attr string) {
	for i, u := range s.KeepUsers {
		v.userName(fmt.Sprintf("%s.keep_users[%d]", attr, i), u)
	}
}

func (s *AuthorizedKeys) env() []envVar {
	return []envVar{{"AMIH_KEEP_USERS", lines(s.KeepUsers)}}
}
