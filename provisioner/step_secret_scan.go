//go:generate go tool packer-sdc mapstructure-to-hcl2 -type SecretScan
//go:generate go tool packer-sdc struct-markdown

package provisioner

import (
	"fmt"
	"strconv"
	"time"
)

// SecretScan configures the `secret_scan` step: look for secrets nobody
// knew were on the image — private keys, cloud access keys, API tokens (the
// rules are listed below) — in every regular file up to `max_file_size`
// under `paths`, without crossing into other filesystems. Every finding
// fails the build unless its path matches `allow`; findings name the path
// and the rule, never the secret. It runs after the cleaning steps, so it
// judges what the image will really hold; in dry run its findings are
// reported without failing (the cleaning steps did not run).
//
// SSH host keys and Debian's `ssl-cert-snakeoil.key` are known system keys:
// reported as warnings, not findings (`machine_identity` handles host keys).
type SecretScan struct {
	// Directories to scan. Default `["/root", "/home", "/etc", "/opt", "/srv",
	// "/var/www", "/usr/local"]`; missing ones are skipped.
	Paths []string `mapstructure:"paths"`
	// Paths whose findings are accepted, as shell patterns where `*` also
	// matches `/`, e.g. `["/opt/app/test/fixtures/*"]`.
	Allow []string `mapstructure:"allow"`
	// Larger files are not read: a number of bytes with an optional unit
	// `k`, `M` or `G` (powers of 1024). Default `1M`.
	MaxFileSize string `mapstructure:"max_file_size"`

	maxBytes int64
}

// defaultScanPaths are scanned when `paths` is not set.
var defaultScanPaths = []string{"/root", "/home", "/etc", "/opt", "/srv", "/var/www", "/usr/local"}

var secretScanStep = stepDef{
	Name:     "secret_scan",
	Title:    "scan for secrets left on the image",
	Summary:  "scans for private keys, cloud keys and tokens left anywhere; a finding fails the build unless allowed (read-only)",
	Timeout:  30 * time.Minute,
	Verbatim: true,
	Touches:  []string{"nothing: it only reads"},
	configOf: func(c *Config) stepConfig { return &c.SecretScan },
}

func (s *SecretScan) prepare(v *validator, attr string) {
	if len(s.Paths) == 0 {
		s.Paths = defaultScanPaths
	}
	for i, p := range s.Paths {
		v.literalPath(fmt.Sprintf("%s.paths[%d]", attr, i), p)
	}
	for i, g := range s.Allow {
		v.guestGlob(fmt.Sprintf("%s.allow[%d]", attr, i), g, "/")
	}
	s.maxBytes = v.size(attr+".max_file_size", s.MaxFileSize, "1M")
}

func (s *SecretScan) env() []envVar {
	rules := make([]string, len(secretRules))
	for i, r := range secretRules {
		rules[i] = r.Name + "\t" + r.Regex
	}
	return []envVar{
		{"AMIH_PATHS", lines(s.Paths)},
		{"AMIH_ALLOW", lines(s.Allow)},
		// find -size counts 512-byte blocks.
		{"AMIH_MAX_BLOCKS", strconv.FormatInt((s.maxBytes+511)/512, 10)},
		{"AMIH_RULES", lines(rules)},
	}
}

// failsOnFindings: a secret fails the build unless allowed.
func (s *SecretScan) failsOnFindings() bool { return true }
