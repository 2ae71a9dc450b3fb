package provisioner

// SecretRule is one well-defined secret pattern of the secret scan.
type SecretRule struct {
	// Name is how findings name the rule.
	Name string
	// Regex is the POSIX extended regular expression grep looks for.
	Regex string
	// Doc says what it finds.
	Doc string
}

// secretRules are the patterns the scan looks for. Each one is specific
// enough to be worth failing a build for.
var secretRules = []SecretRule{
	{"private-key", `-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----`, "PEM or OpenSSH private key header (RSA, EC, DSA, OPENSSH, ENCRYPTED, PGP)"},
	{"putty-private-key", `PuTTY-User-Key-File-[0-9]+:`, "PuTTY private key"},
	{"aws-access-key-id", `(^|[^A-Z0-9])(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}([^A-Z0-9]|$)`, "AWS access key id"},
	{"aws-secret-access-key", `[Aa][Ww][Ss]_?[Ss][Ee][Cc][Rr][Ee][Tt]_?([Aa][Cc][Cc][Ee][Ss][Ss]_?)?[Kk][Ee][Yy]["']?[[:space:]]*[:=][[:space:]]*["']?[A-Za-z0-9/+]{40}`, "AWS secret access key assigned to an aws_secret_access_key-like name"},
	{"github-token", `(gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82})`, "GitHub token"},
	{"gitlab-token", `glpat-[A-Za-z0-9_-]{20}`, "GitLab personal access token"},
	{"slack-token", `xox[abposr]-[A-Za-z0-9-]{10,}`, "Slack token"},
	{"slack-webhook", `https://hooks\.slack\.com/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/[A-Za-z0-9]+`, "Slack incoming webhook"},
	{"google-api-key", `AIza[0-9A-Za-z_-]{35}`, "Google API key"},
	{"stripe-secret-key", `[rs]k_live_[0-9A-Za-z]{24,}`, "Stripe live secret key"},
	{"npm-token", `npm_[A-Za-z0-9]{36}`, "npm access token"},
}

// SecretRules returns the rules of the secret scan.
func SecretRules() []SecretRule { return append([]SecretRule(nil), secretRules...) }
