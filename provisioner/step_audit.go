//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Audit
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// Audit configures the `audit` step: a read-only check of the finished
// image, run last, whose findings are the report's verdict. Run it alone
// (`steps = ["audit"]`) to audit an existing instance. It finds: any
// authorized_keys file (but those of `authorized_keys.keep_users`), any
// shell history, SSH host keys while the machine id is reset, a machine id
// that is set, `PasswordAuthentication yes`, a usable root password, an
// empty password, private keys and well-known credential files, mail in the
// queue, a listed service still active, and a failure of the previous final
// shutdown's cleanup. Keys, histories, private keys and credentials are
// looked for in every home (passwd's and every folder under /home) and, by
// name, in every local filesystem of the image, wherever they are.
//
// An instance launched from a clean image has its own machine id and its
// launch key by design: audit one with `skip_checks = ["machine_id",
// "authorized_keys"]`.
type Audit struct {
	// What a finding does: `fail` the build, or `warn` (listed in the
	// report and the output). Default `fail`. In dry run findings never fail.
	OnFinding string `mapstructure:"on_finding"`
	// Checks to leave out: `authorized_keys`, `shell_history`, `host_keys`,
	// `machine_id`, `password_authentication`, `root_password`,
	// `empty_password`, `private_keys`, `credentials`, `final_shutdown`,
	// `mail_queue`, `services`.
	SkipChecks []string `mapstructure:"skip_checks"`
	// Services that must not be active. Default: the `services` of
	// `stop_services`.
	Services []string `mapstructure:"services"`
	// Paths the audit does not count as findings, as shell patterns where
	// `*` also matches `/` (as in `secret_scan.allow`), e.g.
	// `["/opt/app/testdata/*"]` for an application's own fixture named like
	// a history. Each path allowed is still listed in the report and the
	// output (`allowed by audit.allow: CHECK PATH`, and the count
	// `allowed`); a pattern that matched nothing the audit found is a
	// warning (an exception that outlived its reason). Patterns match paths
	// only, never a user, a setting or a service. Default: none.
	Allow []string `mapstructure:"allow"`
}

// auditChecks are the checks of the audit step, in the order they run.
var auditChecks = []string{"authorized_keys", "shell_history", "host_keys", "machine_id", "password_authentication",
	"root_password", "empty_password", "private_keys", "credentials", "final_shutdown", "mail_queue", "services"}

var auditStep = stepDef{
	Name:    "audit",
	Title:   "audit the result",
	Summary: "checks the result (keys, histories, identity, sshd, passwords, credentials, mail, services); its findings are the report's verdict (read-only)",
	Touches: []string{"nothing: it only reads"},
	configOf: func(c *Config) stepConfig {
		return &auditConfig{Audit: &c.Audit, stoppedServices: c.StopServices.Services, keptUsers: c.AuthorizedKeys.KeepUsers}
	},
}

// auditConfig is the audit block with what it takes from the rest of the
// Config: the services stop_services stopped, checked when the block names
// none, and the users whose keys authorized_keys keeps (keep_users), whose
// key files are no finding.
type auditConfig struct {
	*Audit
	stoppedServices []string
	keptUsers       []string
}

func (s *auditConfig) env() []envVar {
	return append(s.Audit.env(), envVar{"AMIH_KEEP_USERS", lines(s.keptUsers)})
}

func (s *auditConfig) prepare(v *validator, attr string) {
	if len(s.Services) == 0 {
		s.Services = s.stoppedServices
	}
	s.Audit.prepare(v, attr)
}

// givesVerdict: the audit's findings are the report's verdict.
func (s *auditConfig) givesVerdict() {}

func (s *Audit) prepare(v *validator, attr string) {
	v.choose(attr, &s.OnFinding, choiceOf("audit", "on_finding"))
	for i, c := range s.SkipChecks {
		v.oneOf(fmt.Sprintf("%s.skip_checks[%d]", attr, i), c, auditChecks...)
	}
	for i, name := range s.Services {
		v.serviceName(fmt.Sprintf("%s.services[%d]", attr, i), name)
	}
	for i, g := range s.Allow {
		v.guestGlob(fmt.Sprintf("%s.allow[%d]", attr, i), g, "/")
	}
}

func (s *Audit) env() []envVar {
	return []envVar{
		{"AMIH_SKIP_CHECKS", lines(s.SkipChecks)},
		{"AMIH_SERVICES", lines(s.Services)},
		{"AMIH_ALLOW", lines(s.Allow)},
	}
}

// failsOnFindings tells whether a finding fails the build.
func (s *Audit) failsOnFindings() bool { return s.OnFinding == "fail" }
