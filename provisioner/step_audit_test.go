package provisioner

import (
	"slices"
	"strings"
	"testing"
)

func TestScriptsAudit(t *testing.T) {
	forEachShell(t, func(t *testing.T, g *guestTree) {
		g.file("etc/passwd", passwd)
		g.file("etc/shadow", shadow)
		g.file("etc/machine-id", "uninitialized\n")
		g.file("etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\n")
		g.file("etc/ssh/ssh_host_rsa_key", "key")
		g.file("root/.ssh/authorized_keys", "ssh-ed25519 AAAA")
		g.file("home/alice/.zsh_history", "ls")
		g.file("home/admin/.ssh/id_rsa", "-----BEGIN RSA PRIVATE KEY-----\n")
		g.file("home/admin/.aws/credentials", "[default]\n")
		g.file("home/admin/.docker/config.json", `{"credsStore":"pass"}`) // no credentials in it
		g.dir("run/systemd/system")
		g.shim("systemctl", `[ "$1 $2" = "is-active --quiet" ] && [ "$4" = nginx ]`)
		postfixShims(g, "2")
		env := []envVar{{"AMIH_SERVICES", "nginx\nmyapp"}, {"AMIH_SKIP_CHECKS", ""}}

		res := g.run("audit.sh", env...)
		var got []string
		for _, f := range res.kind("finding") {
			got = append(got, f.field(0)+" "+f.field(1))
		}
		want := sorted("authorized_keys /root/.ssh/authorized_keys", "shell_history /home/alice/.zsh_history",
			"host_keys /etc/ssh/ssh_host_rsa_key", "password_authentication sshd", "root_password root",
			"empty_password alice", "private_keys /home/admin/.ssh/id_rsa", "credentials /home/admin/.aws/credentials",
			"mail_queue postfix", "services nginx")
		if res.code != 0 || !equal(sorted(got...), want) {
			t.Errorf("code %d, findings\n%v\nwant\n%v\n%s", res.code, sorted(got...), want, res.other)
		}
		if len(res.kind("change")) != 0 {
			t.Errorf("the audit changed something: %v", res.kind("change"))
		}

		skipped := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", strings.Join(auditChecks, "\n")})
		if len(skipped.kind("finding")) != 0 {
			t.Errorf("skip_checks ignored: %v", skipped.kind("finding"))
		}

		g.file("etc/machine-id", "0123456789abcdef0123456789abcdef\n")
		live := g.run("audit.sh", envVar{"AMIH_SKIP_CHECKS", "authorized_keys"})
		got = nil
		for _, f := range live.kind("finding") {
			got = append(got, f.field(0))
		}
		if !slices.Contains(got, "machine_id") || slices.Contains(got, "host_keys") || slices.Contains(got, "authorized_keys") {
			t.Errorf("a set machine id: findings %v", got)
		}
	})
}
