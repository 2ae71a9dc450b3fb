//go:build e2e

package e2e

import (
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
)

// What the dirty fixture (testdata/dirty.sh) plants, how the tests read the
// guest through the guest agent, and small helpers over both.

// What the dirty fixture plants and the checklist must remove.
var (
	plantedHistories = []string{"/root/.bash_history", "/root/.python_history", "/home/admin/.bash_history",
		"/home/admin/.lesshst", "/home/alice/.bash_history", "/home/alice/.mysql_history",
		"/home/bob/.bash_history", "/home/bob/.zsh_history", "/home/alice/.zsh_history",
		"/home/gone/.bash_history", "/srv/homes/dora/.bash_history"}
	plantedCredentials = []string{"/root/.aws/credentials", "/home/admin/.docker/config.json",
		"/home/alice/.git-credentials", "/home/bob/.ssh/id_deploy", "/home/gone/.aws/credentials", "/srv/homes/dora/.aws/credentials"}
	plantedKeys = []string{"/root/.ssh/authorized_keys", "/home/admin/.ssh/authorized_keys",
		"/home/alice/.ssh/authorized_keys", "/home/alice/.ssh/authorized_keys2", "/home/bob/.ssh/authorized_keys",
		"/home/gone/.ssh/authorized_keys", "/srv/homes/dora/.ssh/authorized_keys"}
	// plantedSecrets are secret values dirty.sh writes into those files.
	plantedSecrets = []string{"e2e-history-secret", "AKIAE2ETESTKEY000000", "e2eSecretKeyE2eSecretKeyE2eSecretKey0000",
		"ZTJlOmUyZS1kb2NrZXItc2VjcmV0", "e2e-git-secret"}
	// plantedLeftovers are the other leftovers dirty.sh plants (issue 14).
	plantedLeftovers = []string{"/home/admin/.ssh/known_hosts", "/root/.ssh/known_hosts", "/root/.cache/pip",
		"/home/alice/.cache/go-build", "/home/bob/.npm/_cacache", "/var/lib/rpm/__db.001"}
	// removable is everything the checklist must remove.
	removable = concat(plantedHistories, plantedCredentials, plantedKeys, plantedLeftovers)
	// canaries look like targets and must survive (planted by dirty.sh).
	canaries = []string{"/srv/app/bash_history", "/home/gone/project/README", "/srv/homes/dora/notes.txt", "/home/admin/history.txt", "/home/alice/.bash_history.d/keep",
		"/home/admin/.ssh/authorized_keys.example", "/home/bob/.ssh/id_deploy.pub", "/root/.docker-config-example.json",
		"/home/alice/notes/bash_history", "/var/www/html/bash_history", "/home/bob/authorized_keys",
		"/home/admin/.ssh/authorized_keys2.bak", "/home/admin/.ssh/config",
		"/home/admin/.aws/config", "/root/.npmrc", "/home/alice/.pypirc", "/home/bob/.docker/config.json",
		"/opt/app/.git-credentials.sample", "/home/admin/.history_notes", "/etc/skel/.bash_history_template",
		"/home/alice/.viminfo.d", "/srv/shared/zsh_history.txt", "/var/lib/e2e-svc/data.db",
		"/srv/volume/keep", "/var/tmp/volume/keep", "/etc/ssh/sshd_config", "/etc/passwd", "/etc/shadow",
		"/home/alice/.bashrc", "/home/admin/.profile", "/etc/machine-id", "/var/lib/e2e/boots"}
)

// loginRecords are the login records of Debian 12 (wtmp, btmp, lastlog)
// and Debian 13 (wtmpdb's and lastlog2's SQLite databases).
var loginRecords = []string{"/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog", "/var/log/wtmp.db", "/var/lib/lastlog/lastlog2.db"}

// inspectScript reads the guest's state as root through the guest agent.
func inspectScript() string {
	all := concat(removable, canaries)
	return `set -u
echo "boots=$(wc -l < /var/lib/e2e/boots)"
echo "app=$(systemctl is-active e2e-app.service)"
echo "queue=$(postqueue -p | tail -n 1)"
echo "mailbox=$(stat -c %s /var/mail/admin 2>/dev/null || echo missing)"
echo "pending=$(apt-get -s -o Debug::NoLocking=1 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Dir::Log::Planner=/dev/null dist-upgrade 2>/dev/null | grep -c '^Inst ')"
echo "upgrades=$(grep -c '^Upgrade:' /var/log/apt/history.log 2>/dev/null)"
for f in ` + strings.Join(all, " ") + `; do [ -e "$f" ] && echo "present=$f"; done
find / -xdev \( -name authorized_keys -o -name authorized_keys2 \) -type f | sed 's/^/authkeys=/'
find /root /home -xdev -name '.*history' -type f | sed 's/^/history=/'
echo "machine_id=$(cat /etc/machine-id)"
ls /etc/ssh/ssh_host_* 2>/dev/null | sed 's/^/hostkey=/'
echo "dropin=$(cat /etc/ssh/sshd_config.d/00-ami-hygiene.conf 2>/dev/null | grep -c -x -e 'PasswordAuthentication no' -e 'PermitRootLogin prohibit-password')"
awk -F: '$1 == "root" || $1 == "carol" { print "pw_" $1 "=" substr($2, 1, 1) }' /etc/shadow
for d in /tmp /var/tmp; do
	# A tmpfs (Debian 13's /tmp) is not part of the image: caches leaves it alone.
	` + isTmpfs(`"$d"`) + ` && continue
	find "$d" -mindepth 1 -maxdepth 1 ! -name 'systemd-private-*' ! -name '.*-unix' ! -path /var/tmp/volume | sed 's/^/tmp=/'
done
find /var/log -xdev -type f \( -name '*.gz' -o -name '*.[0-9]' \) | sed 's/^/rotated=/'
ls /var/cache/apt/archives/*.deb /var/cache/apt/*.bin /etc/passwd- /etc/shadow- /etc/group- /etc/gshadow- 2>/dev/null | sed 's/^/leftover=/'
echo "cloud_instances=$(ls /var/lib/cloud/instances 2>/dev/null | wc -l)"
grep -q '^127\.0\.1\.1' /etc/hosts && echo "leftover14=/etc/hosts: $(grep '^127\.0\.1\.1' /etc/hosts)"
grep -l 'mac-address' /etc/NetworkManager/system-connections/* 2>/dev/null | sed 's/^/leftover14=mac in /'
grep -l '^HWADDR\|^UUID' /etc/sysconfig/network-scripts/ifcfg-* 2>/dev/null | sed 's/^/leftover14=hwaddr in /'
ls /etc/network/interfaces.d/50-cloud-init* /etc/netplan/50-cloud-init.yaml 2>/dev/null | sed 's/^/leftover14=/'
[ -f /swapfile ] && ! grep -q '^/swapfile ' /proc/swaps && echo "swap_off=/swapfile is not active"
echo "enabled_cron=$(systemctl is-enabled cron.service)"
echo "enabled_e2e-app=$(systemctl is-enabled e2e-app.service)"
for f in ` + strings.Join(loginRecords, " ") + `; do [ -f "$f" ] && echo "login_$f=$(stat -c %s "$f")"; done
echo "sudo_shells=$(grep -c 'COMMAND=[^ ]*/sh -s$' /var/lib/e2e/sudo.log 2>/dev/null)"
echo "sudo_scripts=$(grep -c 'ami-hygiene\.XXXXXX' /var/lib/e2e/sudo.log 2>/dev/null)"
true`
}

// isTmpfs is a shell test: the folder dir (a shell word) is a tmpfs mount.
func isTmpfs(dir string) string {
	return `awk -v d=` + dir + ` '$2 == d && $3 == "tmpfs" { f = 1 } END { exit !f }' /proc/mounts`
}

// unmountTmpfsTmp takes Debian 13's tmpfs /tmp away (lazily), for the tests
// that need the disk's /tmp.
var unmountTmpfsTmp = "if " + isTmpfs("/tmp") + "; then umount -l /tmp; fi\n"

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// without returns the items of list that are not in drop.
func without(list, drop []string) []string {
	var out []string
	for _, x := range list {
		if !has(drop, x) {
			out = append(out, x)
		}
	}
	return out
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func first(facts map[string][]string, key string) string {
	if v := facts[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// hygieneBody is the ami-hygiene block of the tests: the empty block of the
// acceptance plus the report files (AMIH_E2E_NO_HYGIENE=1 drops the
// provisioner, to prove once that the checks then fail).
func hygieneBody(extra string) string {
	if os.Getenv("AMIH_E2E_NO_HYGIENE") == "1" {
		return "-"
	}
	return "    report_path = \"report.json\"\n    junit_path  = \"junit.xml\"\n" + extra
}

// findingTargets lists the targets of the report's findings.
func findingTargets(report *provisioner.Report) []string {
	var out []string
	for _, f := range report.Findings {
		out = append(out, f.Target)
	}
	sort.Strings(out)
	return out
}

// reportTargets lists the targets of every action with the verb.
func reportTargets(report *provisioner.Report, verb string) []string {
	var out []string
	for _, step := range report.Steps {
		for _, act := range step.Actions {
			if act.Verb == verb {
				out = append(out, act.Target)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Secrets planted in unusual places (AfterDirty of the dry-run guest).
var (
	secretValues = []string{"AKIAE2EUNUSUALPLACE1", "e2eUnusualSecretE2eUnusualSecretE2e00000"}
	secretPaths  = []string{"/opt/app/conf/.deploy/settings.ini", "/srv/backup/old/key-copy"}
	plantSecrets = []string{
		"mkdir -p /opt/app/conf/.deploy /srv/backup/old",
		"printf '[deploy]\\naws_access_key_id = " + secretValues[0] + "\\naws_secret_access_key = " + secretValues[1] + "\\n' > " + secretPaths[0],
		"ssh-keygen -q -t ed25519 -N '' -C stray -f " + secretPaths[1],
	}
)
