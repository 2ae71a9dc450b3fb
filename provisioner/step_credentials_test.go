package provisioner

import (
	"slices"
	"testing"
)

func TestScriptsCredentials(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		files := map[string]string{
			"/root/.aws/credentials":                          "[default]\naws_secret_access_key = x\n",
			"/home/admin/.docker/config.json":                 `{"auths":{"registry":{"auth":"eA=="}}}`,
			"/home/admin/.git-credentials":                    "https://u:p@host\n",
			"/home/admin/.netrc":                              "machine h login u password p\n",
			"/home/alice/.pgpass":                             "h:5432:*:u:p\n",
			"/home/alice/.my.cnf":                             "[client]\npassword=p\n",
			"/home/alice/.npmrc":                              "//registry/:_authToken=abc\n",
			"/home/alice/.pypirc":                             "[pypi]\n  password = p\n",
			"/home/admin/.kube/config":                        "apiVersion: v1\n",
			"/root/.vault-token":                              "s.abc\n",
			"/home/admin/.config/gcloud/credentials.db":       "db",
			"/home/admin/.azure/msal_token_cache.json":        "{}",
			"/home/admin/.ssh/id_ed25519":                     "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
			"/root/.ssh/deploy":                               "-----BEGIN RSA PRIVATE KEY-----\nx\n",
			"/etc/chef/client.pem":                            "-----BEGIN RSA PRIVATE KEY-----\n",
			"/opt/app/deploy.key":                             "key",
			"/home/admin/.aws/sso/cache/token.json":           "{}",
			"/home/admin/.config/gcloud/legacy_credentials/a": "x",
			"/home/admin/.ssh/known_hosts":                    "host ssh-ed25519 AAAA",
			"/root/.ssh/known_hosts.old":                      "host ssh-ed25519 AAAA",
		}
		kept := map[string]string{
			"/root/.docker/config.json":       `{"credsStore":"pass"}`,
			"/home/admin/.npmrc.example":      "_authToken=abc",
			"/home/admin/.ssh/id_ed25519.pub": "ssh-ed25519 AAAA",
			"/home/admin/.ssh/config":         "Host x\n",
			"/home/admin/.aws/config":         "[default]\nregion = eu-west-1\n",
			"/srv/app/.git-credentials":       "not a home",
		}
		g.file("/home/alice/.docker/config.json.d/keep", "a directory of that name stays")
		for p, c := range files {
			g.file(p, c)
		}
		for p, c := range kept {
			g.file(p, c)
		}
		res := g.run("credentials.sh", envVar{"AMIH_PATHS", "/opt/app/deploy.key\n/opt/missing"})
		if res.code != 0 {
			t.Fatalf("code %d: %s", res.code, res.other)
		}
		for p := range files {
			if g.exists(p) {
				t.Errorf("%s is still there", p)
			}
		}
		for p := range kept {
			if !g.exists(p) {
				t.Errorf("%s was removed", p)
			}
		}
		if !g.exists("/home/alice/.docker/config.json.d/keep") {
			t.Error("a lookalike directory was removed")
		}
		if again := g.run("credentials.sh", envVar{"AMIH_PATHS", "/opt/app/deploy.key"}); len(again.kind("change")) != 0 {
			t.Errorf("second run changed %v", again.kind("change"))
		}
	})
}

// TestScriptsCredentialsKeepKnownHosts: keep_known_hosts keeps every
// known_hosts; the private key next to it still goes.
func TestScriptsCredentialsKeepKnownHosts(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("home/admin/.ssh/known_hosts", "host ssh-ed25519 AAAA")
		g.file("root/.ssh/known_hosts.old", "host ssh-ed25519 AAAA")
		g.file("root/.ssh/id_rsa", "-----BEGIN RSA PRIVATE KEY-----\n")
		res := g.run("credentials.sh", envVar{"AMIH_PATHS", ""}, envVar{"AMIH_KEEP_KNOWN_HOSTS", "1"})
		if res.code != 0 || !slices.Equal(res.targets("remove"), []string{"/root/.ssh/id_rsa"}) {
			t.Errorf("code %d, removed %v\n%s", res.code, res.targets("remove"), res.other)
		}
		g.allKept([]string{"home/admin/.ssh/known_hosts", "root/.ssh/known_hosts.old"})
	})
}
