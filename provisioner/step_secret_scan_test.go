package provisioner

import (
	"slices"
	"strings"
	"testing"
)

func TestScriptsSecretScan(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("opt/app/.deploy/settings.ini", "[aws]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = "+plantedSecret+"\n")
		g.file("srv/data/backup/id", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
		g.file("etc/ci/token", "GITHUB_TOKEN=ghp_"+strings.Repeat("a1B2", 9)+"\n")
		g.file("home/admin/notes", "slack: xoxb-1234567890-abcdefghij\n")
		g.file("etc/ssh/ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n")
		g.file("opt/vendor/test/key.pem", "-----BEGIN RSA PRIVATE KEY-----\n")
		g.file("opt/big/dump.sql", strings.Repeat("x", 5000)+"AKIAIOSFODNN7EXAMPLE\n")
		// Lookalikes that are not secrets.
		g.file("etc/ssl/certs/ca.pem", "-----BEGIN CERTIFICATE-----\n")
		g.file("opt/app/README", "Set AKIA followed by your key id; see aws_secret_access_key in the docs.\n")
		g.file("home/admin/.ssh/id_ed25519.pub", "ssh-ed25519 AAAAC3Nza admin\n")
		set := &SecretScan{Allow: []string{"/opt/vendor/test/*"}, MaxFileSize: "4k"}
		v := &validator{}
		set.prepare(v, "secret_scan")
		if v.err() != nil {
			t.Fatal(v.err())
		}
		res := g.run("secret_scan.sh", set.env()...)
		if res.code != 0 {
			t.Fatalf("code %d\n%s", res.code, res.other)
		}
		var got []string
		for _, f := range res.kind("finding") {
			got = append(got, f.field(1)+" "+f.field(0))
		}
		want := sorted("/opt/app/.deploy/settings.ini aws-access-key-id,aws-secret-access-key", "/srv/data/backup/id private-key",
			"/etc/ci/token github-token", "/home/admin/notes slack-token")
		if !slices.Equal(sorted(got...), want) {
			t.Errorf("findings %v, want %v", sorted(got...), want)
		}
		if n, _ := res.count("allowed"); n != "1" {
			t.Errorf("allowed %s", n)
		}
		if w := res.kind("warn"); len(w) != 1 || !strings.Contains(w[0].field(0), "/etc/ssh/ssh_host_ed25519_key") {
			t.Errorf("warnings %v", w)
		}
		all := res.other
		for _, r := range res.records {
			all += strings.Join(r.Fields, " ")
		}
		if strings.Contains(all, plantedSecret) || strings.Contains(all, "AKIAIOSFODNN7EXAMPLE") || strings.Contains(all, "b3BlbnNzaC1rZXkt") {
			t.Errorf("the output shows a secret:\n%s", all)
		}
	})
}

// A secret that must never appear in any output.
const plantedSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
