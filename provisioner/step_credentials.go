//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Credentials
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "fmt"

// Credentials configures the `credentials` step: remove well-known
// third-party credentials of root and every passwd user: AWS CLI
// (`~/.aws/credentials`, SSO and CLI caches), docker `~/.docker/config.json`
// when it holds `auths` credentials, `~/.git-credentials`, `~/.netrc`,
// `~/.pgpass`, `~/.my.cnf`, npm (`~/.npmrc` with a token) and PyPI
// (`~/.pypirc` with a password), gcloud, Azure CLI, `~/.kube/config`,
// `~/.vault-token`, Chef (`~/.chef`, `/etc/chef/client.pem`,
// `/etc/chef/validation.pem`), private keys in `~/.ssh` (public keys and
// `config` stay) and `~/.ssh/known_hosts`, the hosts the build connected to
// (unless `keep_known_hosts`; the system-wide `/etc/ssh/ssh_known_hosts`
// stays). A file or folder reached through a link
// that leads out of its home (`~/.aws` linked to `/data/aws`) is left alone
// with a warning; a folder with a filesystem mounted in it is never removed.
type Credentials struct {
	// More files or directories to remove, as absolute literal paths (no
	// globs), e.g. `["/opt/app/deploy.key"]`. System directories such as
	// `/etc` or `/home` are refused.
	Paths []string `mapstructure:"paths"`
	// Keep `~/.ssh/known_hosts` (and `known_hosts.old`): for an image whose
	// users must trust hosts the build pinned. Default `false`: they list the
	// hosts the build talked to.
	KeepKnownHosts bool `mapstructure:"keep_known_hosts"`
}

var credentialsStep = stepDef{
	Name:     "credentials",
	Title:    "remove third-party credentials",
	Summary:  "removes third-party credentials (AWS, docker, git, netrc, databases, npm, PyPI, gcloud, Azure, kube, vault, Chef, private SSH keys)",
	Secrets:  true,
	Verbatim: true,
	Touches: []string{
		"~/.aws/credentials, ~/.aws/sso/cache/, ~/.aws/cli/cache/",
		"~/.docker/config.json (only when it holds \"auth\" entries)",
		"~/.git-credentials, ~/.config/git/credentials, ~/.netrc, ~/.pgpass, ~/.my.cnf",
		"~/.npmrc (only with _authToken, _auth or _password), ~/.pypirc (only with a password)",
		"~/.config/gcloud/{credentials.db,access_tokens.db,application_default_credentials.json,legacy_credentials/}",
		"~/.azure/{accessTokens.json,msal_token_cache.json,msal_token_cache.bin,service_principal_entries.json}",
		"~/.kube/config, ~/.vault-token, ~/.chef/, /etc/chef/client.pem, /etc/chef/validation.pem",
		"~/.ssh/* files that start with a private-key header",
		"~/.ssh/known_hosts, ~/.ssh/known_hosts.old (unless `keep_known_hosts`)",
		"every path in `paths`",
	},
	configOf: func(c *Config) stepConfig { return &c.Credentials },
}

func (s *Credentials) prepare(v *validator, attr string) {
	for i, p := range s.Paths {
		v.guestPath(fmt.Sprintf("%s.paths[%d]", attr, i), p)
	}
}

func (s *Credentials) env() []envVar {
	return []envVar{{"AMIH_PATHS", lines(s.Paths)}, {"AMIH_KEEP_KNOWN_HOSTS", flag(s.KeepKnownHosts)}}
}
