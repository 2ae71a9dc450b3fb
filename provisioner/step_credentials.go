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
// `/etc/chef/validation.pem`) and private keys in `~/.ssh` (public keys,
// `known_hosts` and `config` stay). A file or folder reached through a link
// that leads out of its home (`~/.aws` linked to `/data/aws`) is left alone
// with a warning; a folder with a filesystem mounted in it is never removed.
type Credentials struct {
	// More files or directories to remove, as absolute literal paths (no
	// globs), e.g. `["/opt/app/deploy.key"]`. System directories such as
	// `/etc` or `/home` are refused.
	Paths []string `mapstructure:"paths"`
}

var credentialsStep = stepDef{
	Name:     "credentials",
	Title:    "remove third-party credentials",
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
	return []envVar{{"AMIH_PATHS", lines(s.Paths)}}
}
