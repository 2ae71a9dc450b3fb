//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Logs
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// Logs configures the `logs` step: leave `/var/log` as a fresh system has
// it. Every non-empty regular file under `/var/log` (one filesystem; bind
// and other mounts below it are left alone), whatever its name holds, is
// truncated in place, so that its owner, mode and the programs holding it
// open are kept, and the directory structure stays; rotated archives
// (`*.1`, `*.gz`, `*-20240101`, ...) are removed. The login records are
// emptied the same way: `wtmp`, `btmp`, `lastlog` and `utmp`, and on Debian
// 13 and other current systems wtmpdb's `/var/log/wtmp.db` and lastlog2's
// `/var/lib/lastlog/lastlog2.db` (SQLite databases: an empty file is an
// empty database, which both programs fill again from the next login). auditd is stopped before its log is
// truncated (with `service` on the RHEL family, whose auditd refuses
// `systemctl stop`) and started again. The systemd journal is rotated and
// vacuumed (`journalctl --rotate`, `--vacuum-time=1s`).
//
// The shutdown that ends the build writes a few lines of its own (the
// session's logout in wtmp, the shutdown in the journal).
type Logs struct {
	// Files or directories under `/var/log` to leave alone, as shell patterns
	// where `*` also matches `/`, e.g. `["/var/log/myapp/*"]`.
	Exclude []string `mapstructure:"exclude"`
	// Keep rotated archives (truncate them like the other files instead of
	// removing them). Default `false`.
	KeepRotated bool `mapstructure:"keep_rotated"`
	// Leave the systemd journal alone. Default `false`.
	KeepJournal bool `mapstructure:"keep_journal"`
}

var logsStep = stepDef{
	Name:     "logs",
	Title:    "clean the logs",
	Summary:  "truncates every log in place, removes rotated ones, empties login records, vacuums the journal (auditd stopped around its log)",
	Secrets:  true,
	Verbatim: true,
	Touches: []string{
		"every non-empty regular file under /var/log (truncated, owner and mode kept), except `exclude`",
		"rotated archives under /var/log: *.[0-9], *.[0-9].gz, *.gz, *.xz, *.bz2, *.zst, *.old, *-YYYYMMDD (removed)",
		"/var/log/wtmp, /var/log/btmp, /var/log/lastlog, /var/log/wtmp.db, /run/utmp (truncated)",
		"/var/lib/lastlog/lastlog2.db and its -journal, -wal, -shm files (truncated)",
		"auditd's state (stopped, then started again) around /var/log/audit/*",
		"the systemd journal under /var/log/journal (`journalctl --rotate`, `--vacuum-time=1s`)",
	},
	configOf: func(c *Config) stepConfig { return &c.Logs },
}

func (s *Logs) prepare(v *validator, attr string) {
	for i, g := range s.Exclude {
		v.guestGlob(fmt.Sprintf("%s.exclude[%d]", attr, i), g, "/var/log/")
	}
}

func (s *Logs) env() []envVar {
	return []envVar{
		{"AMIH_EXCLUDE", lines(s.Exclude)},
		{"AMIH_KEEP_ROTATED", flag(s.KeepRotated)},
		{"AMIH_KEEP_JOURNAL", flag(s.KeepJournal)},
	}
}
