//go:generate go tool packer-sdc mapstructure-to-hcl2 -type FinalShutdown
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// FinalShutdown configures the `final_shutdown` step: what the build's own
// final shutdown writes must not reach the image. Stopping the instance (the
// builder's last act before the snapshot) writes a DHCP lease (the network's
// stop releases it), the session's logout and the shutdown in the login
// records, systemd's random seed, and the journal of the shutdown. This step
// installs a unit in `/run` (in memory: neither the unit nor its script ever
// reaches the image) that systemd stops after every unit that writes those
// (the network, sshd, the user sessions, `systemd-update-utmp`, `wtmpdb`,
// `systemd-random-seed`, `systemd-journal-flush`); its stop overwrites and
// removes the leases and the random seed, empties the login records, moves
// the journal to `/run` (`journalctl --relinquish-var`, systemd 243 and
// later) and removes every journal file under `/var/log/journal` (the
// folder stays), the sudo rule cloud-init wrote for
// the build's user (`/etc/sudoers.d/90-cloud-init-users`, only when
// cloud-init runs again at the next boot: each instance's cloud-init writes
// its own for its default user), and the users in `remove_users`. It also
// empties again every log and mailbox the `logs` and `mail_queue` steps
// emptied (or found empty) and that has grown since, and every mailbox made
// since in the spools `mail_queue` emptied (what rsyslog, syslog-ng and the
// mail system wrote about the rest of the build and the shutdown, sudo's
// mails to root where the hostname does not resolve: they stop before it), and `/var/lib/wtmpdb/wtmp.db`. One failure does not stop the
// rest: each is noted in `/var/lib/ami-hygiene/final-shutdown.failed` (the
// only thing that outlives the shutdown), which the audit reports (check
// `final_shutdown`) and the next build's install phase says and removes.
// Nothing
// happens until the final shutdown: a reboot later in the build would run it
// too (do not reboot after this provisioner). Guests without systemd are
// told what stays. `skip_steps = ["final_shutdown"]` turns it off.
type FinalShutdown struct {
	// Keep the journal files (the shutdown's journal then reaches the
	// image). Default `false`.
	KeepJournal bool `mapstructure:"keep_journal"`
	// Users the build created for itself, removed at the final shutdown,
	// when no session of theirs is left (the user the build connects as may
	// be one): first the account (`userdel`, never `-r` or `-f`), then, only
	// once it is gone, its home and its mailbox, overwritten first. A home
	// is removed only when it is the user's alone: a folder other than `/`
	// that the user owns, that is no other account's home and holds none,
	// holds no file of another account (root's are the build's own, written
	// there through sudo) and no mounted filesystem; otherwise it stays and
	// the step says why. `root` and any user with uid 0 are
	// refused, and so is (at run time, before anything is touched) a list
	// that holds the image's last SSH keys while cloud-init does not run to
	// add an instance's key and no AuthorizedKeysCommand answers.
	RemoveUsers []string `mapstructure:"remove_users"`
}

var finalShutdownStep = stepDef{
	Name:    "final_shutdown",
	Title:   "remove what the final shutdown writes",
	Summary: "installs a unit in `/run` (never in the image) that removes what the build's final shutdown writes: DHCP lease, login records, journal, random seed, cloud-init's sudo rule for the build user, and the users you name",
	Secrets: true,
	Touches: []string{
		"now: /run/systemd/system/ami-hygiene-final-shutdown.service and /run/ami-hygiene/final-shutdown.sh (in memory, never in the image), started",
		"at the final shutdown: the DHCP leases (as `machine_identity`), /var/lib/systemd/random-seed, /var/log/wtmp, btmp, lastlog, wtmp.db, /var/lib/lastlog/lastlog2.db (emptied), every file under /var/log/journal (unless `keep_journal`)",
		"at the final shutdown: /etc/sudoers.d/90-cloud-init-users when cloud-init wrote it and runs again at the next boot",
		"at the final shutdown: the users in `remove_users`, with their home",
	},
	configOf: func(c *Config) stepConfig { return &c.FinalShutdown },
}

func (s *FinalShutdown) prepare(v *validator, attr string) {
	for i, u := range s.RemoveUsers {
		name := fmt.Sprintf("%s.remove_users[%d]", attr, i)
		v.userName(name, u)
		if u == "root" {
			v.add(name, "root cannot be removed")
		}
	}
}

func (s *FinalShutdown) env() []envVar {
	shutdown := []envVar{
		{"AMIH_PHASE", "shutdown"},
		{"AMIH_DRY_RUN", "0"},
		{"AMIH_KEEP_JOURNAL", flag(s.KeepJournal)},
		{"AMIH_REMOVE_USERS", lines(s.RemoveUsers)},
	}
	return []envVar{
		{"AMIH_PHASE", "install"},
		{"AMIH_KEEP_JOURNAL", flag(s.KeepJournal)},
		{"AMIH_REMOVE_USERS", lines(s.RemoveUsers)},
		{"AMIH_SHUTDOWN_SCRIPT", scriptBody(shutdown, finalShutdownStep.script())},
	}
}
