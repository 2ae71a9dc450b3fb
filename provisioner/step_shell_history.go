//go:generate go tool packer-sdc mapstructure-to-hcl2 -type ShellHistory
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// ShellHistory configures the `shell_history` step: remove the history files
// of root and of every user whose home directory is in the passwd database:
// `.*history` (bash, zsh, ash/sh, python, mysql, psql, ...), `.zhistory`,
// fish (`.local/share/fish/fish_history`), sqlite, redis-cli, node, less
// (`.lesshst`), vim (`.viminfo`) and wget (`.wget-hsts`). Only regular files
// and symbolic links are removed (a link goes, never its target); directories
// of the same name stay, and so does a file reached through a link that
// leads out of the home. The plugin's own commands run through a
// non-interactive `sh` and leave no history.
type ShellHistory struct {
	// More history files to remove, as globs relative to the home directory,
	// e.g. `[".irb_history", ".cache/*.hist"]`. They apply only in the homes
	// of real users: root, accounts with a login shell (not `nologin`,
	// `false`, `sync`, `shutdown`, `halt`) and accounts whose uid is between
	// `UID_MIN` and `UID_MAX` of `/etc/login.defs` (1000 and 60000 by
	// default) — never in `/usr/sbin` (daemon) or `/var/www` (www-data). The
	// last part of each glob must name something: a literal character
	// besides dots and wildcards (`[!.]*` or `.*` are refused).
	ExtraPatterns []string `mapstructure:"extra_patterns"`
}

var shellHistoryStep = stepDef{
	Name:     "shell_history",
	Title:    "delete every shell history",
	Summary:  "deletes every shell history of root and every user",
	Secrets:  true,
	Verbatim: true,
	Touches: []string{
		"~/.*history, ~/.zhistory, ~/.local/share/fish/fish_history, ~/.config/fish/fish_history, ~/.lesshst, ~/.viminfo, ~/.wget-hsts, ~/.sqlite_history, ~/.rediscli_history, ~/.node_repl_history of root and every passwd user",
		"~/<extra_patterns>",
	},
	configOf: func(c *Config) stepConfig { return &c.ShellHistory },
}

func (s *ShellHistory) prepare(v *validator, attr string) {
	for i, p := range s.ExtraPatterns {
		v.homeGlob(fmt.Sprintf("%s.extra_patterns[%d]", attr, i), p)
	}
}

func (s *ShellHistory) env() []envVar {
	return []envVar{{"AMIH_EXTRA_PATTERNS", lines(s.ExtraPatterns)}}
}
