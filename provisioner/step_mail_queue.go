//go:generate go tool packer-sdc mapstructure-to-hcl2 -type MailQueue
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "time"

// MailQueue configures the `mail_queue` step: detect postfix, exim or
// sendmail, report how many messages are queued, flush the queue and wait
// until it is empty; then fail, or purge what is left. Finally the local mail
// spools (`/var/mail/*`, `/var/spool/mail/*`) are emptied.
type MailQueue struct {
	// How long to wait for the flushed queue to empty. Default `5m`.
	FlushTimeout string `mapstructure:"flush_timeout"`
	// What to do with messages still queued after `flush_timeout`: `fail`
	// the build, or `purge` them (and report how many). Default `fail`.
	OnTimeout string `mapstructure:"on_timeout"`

	flushTimeout time.Duration
}

var mailQueueStep = stepDef{
	Name:    "mail_queue",
	Title:   "check, flush and empty the mail queue",
	Summary: "reports, flushes and waits for the mail queue; fails or purges what is left; empties local mail spools",
	Secrets: true,
	Timeout: 5 * time.Minute,
	Touches: []string{
		"the MTA's queue (postfix: postqueue -f, postsuper -d ALL on purge; exim: -qff, -Mrm; sendmail: -q, /var/spool/mqueue/*)",
		"/var/mail/* and /var/spool/mail/* (emptied, owner and mode kept)",
	},
	configOf: func(c *Config) stepConfig { return &c.MailQueue },
}

func (s *MailQueue) prepare(v *validator, attr string) {
	s.flushTimeout = v.wait(attr+".flush_timeout", s.FlushTimeout, "5m")
	v.choose(attr, &s.OnTimeout, choiceOf("mail_queue", "on_timeout"))
}

// waits: flush_timeout.
func (s *MailQueue) waits() time.Duration { return s.flushTimeout }

func (s *MailQueue) env() []envVar {
	return []envVar{
		{"AMIH_FLUSH_TIMEOUT", secondsOrZero(s.flushTimeout)},
		{"AMIH_ON_TIMEOUT", s.OnTimeout},
	}
}
