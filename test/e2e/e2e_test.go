//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain kills every VM on interrupt, so that no qemu outlives the tests.
func TestMain(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: killing the VMs\n", s)
		KillAll()
		os.Exit(130)
	}()
	code := m.Run()
	KillAll()
	os.Exit(code)
}

// What the dirty fixture plants and the checklist must remove.
var (
	plantedHistories = []string{"/root/.bash_history", "/root/.python_history", "/home/admin/.bash_history",
		"/home/admin/.lesshst", "/home/alice/.bash_history", "/home/alice/.mysql_history",
		"/home/bob/.bash_history", "/home/bob/.zsh_history", "/home/alice/.zsh_history"}
	plantedCredentials = []string{"/root/.aws/credentials", "/home/admin/.docker/config.json",
		"/home/alice/.git-credentials", "/home/bob/.ssh/id_deploy"}
	plantedKeys = []string{"/root/.ssh/authorized_keys", "/home/admin/.ssh/authorized_keys",
		"/home/alice/.ssh/authorized_keys", "/home/alice/.ssh/authorized_keys2", "/home/bob/.ssh/authorized_keys"}
	// plantedSecrets are secret values dirty.sh writes into those files.
	plantedSecrets = []string{"e2e-history-secret", "AKIAE2ETESTKEY000000", "e2eSecretKeyE2eSecretKeyE2eSecretKey0000",
		"ZTJlOmUyZS1kb2NrZXItc2VjcmV0", "e2e-git-secret"}
	// removable is everything the checklist must remove.
	removable = concat(plantedHistories, plantedCredentials, plantedKeys)
	// canaries look like targets and must survive (planted by dirty.sh).
	canaries = []string{"/srv/app/.bash_history", "/home/admin/history.txt", "/home/alice/.bash_history.d/keep",
		"/home/admin/.ssh/authorized_keys.example", "/home/bob/.ssh/id_deploy.pub", "/root/.docker-config-example.json",
		"/home/alice/notes/.bash_history", "/var/www/html/.bash_history", "/home/bob/authorized_keys",
		"/home/admin/.ssh/authorized_keys2.bak", "/home/admin/.ssh/known_hosts", "/home/admin/.ssh/config",
		"/home/admin/.aws/config", "/root/.npmrc", "/home/alice/.pypirc", "/home/bob/.docker/config.json",
		"/opt/app/.git-credentials.sample", "/home/admin/.history_notes", "/etc/skel/.bash_history_template",
		"/home/alice/.viminfo.d", "/srv/shared/zsh_history.txt", "/var/lib/e2e-svc/data.db",
		"/srv/volume/keep", "/var/tmp/volume/keep", "/etc/ssh/sshd_config", "/etc/passwd", "/etc/shadow",
		"/home/alice/.bashrc", "/home/admin/.profile", "/etc/machine-id", "/var/lib/e2e/boots"}
)

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
find /tmp /var/tmp -mindepth 1 -maxdepth 1 ! -name 'systemd-private-*' ! -name '.*-unix' ! -path /var/tmp/volume | sed 's/^/tmp=/'
find /var/log -xdev -type f \( -name '*.gz' -o -name '*.[0-9]' \) | sed 's/^/rotated=/'
ls /var/cache/apt/archives/*.deb /var/cache/apt/*.bin /etc/passwd- /etc/shadow- /etc/group- /etc/gshadow- 2>/dev/null | sed 's/^/leftover=/'
echo "cloud_instances=$(ls /var/lib/cloud/instances 2>/dev/null | wc -l)"
true`
}

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

// TestChecklist: the dirty guest, then an ami-hygiene block with nothing but
// report paths. The guest's state is then read through the guest agent, not
// from the report, and the report must agree with it.
func TestChecklist(t *testing.T) {
	bed := NewBed(t, "checklist")
	// An empty block cannot know which services are the application's:
	// the one block the test adds names it.
	blocks := `    stop_services { services = ["e2e-app"] }
    verify {
      name          = "os"
      command       = ". /etc/os-release && echo \"$ID $VERSION_ID\""
      expect_output = "^debian 12$"
    }
    verify {
      name          = "as alice"
      command       = "id -un"
      as_user       = "alice"
      expect_output = "^alice$"
    }`
	// The same block a second time in the same build (the connection
	// outlives the launch key): the idempotence run.
	tmpl := Template{Dirty: true, Hygiene: hygieneBody(blocks)}
	if tmpl.Hygiene != "-" {
		tmpl.Provisioners = "\n  provisioner \"ami-hygiene\" {\n    report_path = \"report-again.json\"\n" + blocks + "\n  }\n"
	}
	run := bed.MustBuild(tmpl)
	state := bed.Inspect(inspectScript())

	if n := atoi(first(state, "boots")); n != 2 {
		t.Errorf("the guest booted %d times; want 2 (the first boot and one reboot)", n)
	}
	// The logs step empties /var/log/apt/history.log: nothing left to
	// upgrade (3 packages were, see AMIH_E2E_NO_HYGIENE) and the report's
	// upgrade actions prove the upgrade.
	if p := first(state, "pending"); p != "0" {
		t.Errorf("%s packages still upgradable", p)
	}
	if a := first(state, "app"); a == "active" {
		t.Errorf("e2e-app.service is still active")
	}
	if q := first(state, "queue"); !strings.Contains(q, "empty") {
		t.Errorf("mail queue: %q", q)
	}
	if m := first(state, "mailbox"); m != "0" {
		t.Errorf("/var/mail/admin size %s, want 0", m)
	}
	for _, f := range removable {
		if has(state["present"], f) {
			t.Errorf("%s is still on the guest", f)
		}
	}
	if left := without(state["authkeys"], canaries); len(left) > 0 {
		t.Errorf("authorized_keys left: %v", left)
	}
	if left := without(state["history"], canaries); len(left) > 0 {
		t.Errorf("history files left: %v", left)
	}
	for _, f := range canaries {
		if !has(state["present"], f) {
			t.Errorf("canary %s was removed", f)
		}
	}
	// Clone-safe: identity reset, leftovers gone, access locked.
	if id := first(state, "machine_id"); id != "uninitialized" {
		t.Errorf("/etc/machine-id is %q, want uninitialized", id)
	}
	if len(state["hostkey"]) > 0 {
		t.Errorf("host keys left: %v", state["hostkey"])
	}
	if first(state, "dropin") != "2" || first(state, "pw_root") != "!" || first(state, "pw_carol") != "!" {
		t.Errorf("access policy: sshd drop-in lines %s, root password %q, carol's empty password %q",
			first(state, "dropin"), first(state, "pw_root"), first(state, "pw_carol"))
	}
	for _, key := range []string{"tmp", "rotated", "leftover"} {
		if len(state[key]) > 0 {
			t.Errorf("leftovers (%s): %v", key, state[key])
		}
	}
	if n := first(state, "cloud_instances"); n != "0" {
		t.Errorf("cloud-init still knows %s instance(s)", n)
	}

	// The report agrees with what the guest shows.
	report := bed.Report("report.json")
	if report["status"] != "succeeded" {
		t.Errorf("report status %v", report["status"])
	}
	guest := report["guest"].(map[string]interface{})
	if r := guest["reboots"].(float64); int(r) != atoi(first(state, "boots"))-1 {
		t.Errorf("report says %v reboots, the guest booted %s times", r, first(state, "boots"))
	}
	removed := reportTargets(report, "remove")
	for _, f := range removable {
		if !has(removed, f) {
			t.Errorf("the report does not list %s as removed", f)
		}
	}
	for _, f := range canaries {
		if has(removed, f) {
			t.Errorf("the report lists canary %s as removed", f)
		}
	}
	if !has(reportTargets(report, "stop"), "e2e-app") {
		t.Errorf("the report does not list e2e-app as stopped: %v", reportTargets(report, "stop"))
	}
	for _, s := range report["steps"].([]interface{}) {
		step := s.(map[string]interface{})
		if step["name"] != "verify" {
			continue
		}
		checks, _ := step["checks"].([]interface{})
		if step["status"] != "ok" || len(checks) != 2 {
			t.Errorf("verify: status %v, checks %v", step["status"], checks)
		}
	}
	if len(reportTargets(report, "upgrade")) == 0 {
		t.Errorf("the report lists no upgraded package")
	}
	if _, err := os.Stat(bed.Dir + "/junit.xml"); err != nil {
		t.Errorf("junit file: %v", err)
	}
	// Secrecy: the secrets the fixture planted appear nowhere the plugin
	// writes: Packer's output, its PACKER_LOG=1 log, the report, the JUnit file.
	log, _ := os.ReadFile(run.Log)
	reportText, _ := os.ReadFile(filepath.Join(bed.Dir, "report.json"))
	junit, _ := os.ReadFile(filepath.Join(bed.Dir, "junit.xml"))
	for _, secret := range plantedSecrets {
		for name, text := range map[string]string{"output": run.Output, "log": string(log), "report": string(reportText), "junit": string(junit)} {
			if strings.Contains(text, secret) {
				t.Errorf("the planted secret %q is in Packer's %s", secret, name)
			}
		}
	}
	if report["verdict"] != "clean" {
		t.Errorf("verdict %v, findings %v", report["verdict"], report["findings"])
	}
	if !has(reportTargets(report, "truncate"), "/var/log/syslog") || !has(reportTargets(report, "lock"), "carol") {
		t.Errorf("the report does not list the truncated syslog or the locked empty password")
	}

	secondRunChangesNothing(t, bed.Report("report-again.json"))
	cloneProof(t, bed)
}

// secondRunChangesNothing: the second run of the whole checklist changes
// nothing, but for the log lines the runs themselves write (each step is one
// sudo call: auth.log, auditd's log and the journal record it), which its
// logs step empties again, stopping auditd for that.
func secondRunChangesNothing(t *testing.T, report map[string]interface{}) {
	if report["status"] != "succeeded" || report["verdict"] != "clean" {
		t.Errorf("second run: status %v, verdict %v", report["status"], report["verdict"])
	}
	own := 0
	for _, s := range report["steps"].([]interface{}) {
		step := s.(map[string]interface{})
		for _, a := range step["actions"].([]interface{}) {
			act := a.(map[string]interface{})
			verb, target := act["action"].(string), act["target"].(string)
			if step["name"] == "logs" && ((verb == "truncate" || verb == "vacuum") && strings.HasPrefix(target, "/var/log/") || verb == "stop" && target == "auditd") {
				own++
				continue
			}
			t.Errorf("the second run changed something: %s: %s %s %v", step["name"], verb, target, act["detail"])
		}
	}
	t.Logf("second run: no change but %d on the logs the runs wrote themselves", own)
}

// cloneProof: the finished disk, booted twice with two launch keys, makes
// two different machines that cloud-init set up again, each reachable with
// its own key only, and the audit finds nothing on either.
func cloneProof(t *testing.T, bed *Bed) {
	clones := bed.Clones(2)
	seen := map[string]string{}
	for i, c := range clones {
		if err := WaitSSH(c.VM, c.Key, 15*time.Minute); err != nil {
			t.Fatalf("%s is not reachable with its own key: %v", c.Name, err)
		}
		if out, err := SSH(c.VM, bed.Key, "true"); err == nil {
			t.Errorf("%s accepts the build's key", c.Name)
		} else if !strings.Contains(out, "Permission denied") {
			t.Errorf("%s: the build's key: %v %s", c.Name, err, out)
		}
		other := clones[(i+1)%len(clones)]
		if _, err := SSH(c.VM, other.Key, "true"); err == nil {
			t.Errorf("%s accepts %s's key", c.Name, other.Name)
		}
		state := inspect(t, c.VM, `cloud-init status --wait >/dev/null 2>&1
echo "machine_id=$(cat /etc/machine-id)"
echo "build_machine_id=$(cat /var/lib/e2e/build-machine-id)"
echo "hostkey=$(cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub)"
echo "build_hostkey=$(cut -d' ' -f2 /var/lib/e2e/build-hostkey.pub)"
echo "instance_id=$(cat /var/lib/cloud/data/instance-id)"
echo "cloud_init=$(cloud-init status | sed -n 's/^status: //p')"
echo "sshd=$(systemctl is-active ssh.service)"
true`)
		id, key := first(state, "machine_id"), first(state, "hostkey")
		switch {
		case len(id) != 32 || id == first(state, "build_machine_id"):
			t.Errorf("%s: machine-id %q (the build's was %s)", c.Name, id, first(state, "build_machine_id"))
		case key == "" || key == first(state, "build_hostkey"):
			t.Errorf("%s: host key %q is the build's", c.Name, key)
		case seen[id] != "" || seen[key] != "":
			t.Errorf("%s shares its machine-id or host key with %s", c.Name, seen[id]+seen[key])
		}
		seen[id], seen[key] = c.Name, c.Name
		if first(state, "instance_id") != c.InstanceID || first(state, "cloud_init") != "done" || first(state, "sshd") != "active" {
			t.Errorf("%s: cloud-init instance %q status %q (want %s, done), sshd %q", c.Name,
				first(state, "instance_id"), first(state, "cloud_init"), c.InstanceID, first(state, "sshd"))
		}
		// The audit alone, on the running instance: its machine id and its
		// launch key are its own by design.
		dir := filepath.Join(bed.Dir, c.Name+"-audit")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		run := RunPacker(dir, Template{SSHPort: c.VM.SSHPort, Key: c.Key, Hygiene: `    steps = ["audit"]
    report_path = "report.json"
    audit { skip_checks = ["machine_id", "authorized_keys"] }`}.Render(), streamTo(), 20*time.Minute)
		if run.Err != nil {
			t.Errorf("%s: the audit failed: %v\n%s", c.Name, run.Err, tailString(run.Output, 30))
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "report.json"))
		if err != nil || !strings.Contains(string(data), `"verdict": "clean"`) {
			t.Errorf("%s: audit report: %v\n%s", c.Name, err, data)
		}
	}
}

// osChanges are the files the OS itself changes while a dry run connects and
// looks (docs/provisioners/ami-hygiene.mdx lists them): logs of the logins
// and of sudo, sudo's timestamps, the test application's heartbeat, and
// postfix's own queue runs.
var osChanges = []string{"/var/log/", "/var/lib/sudo/", "/var/lib/systemd/timers/", "/var/lib/e2e/heartbeat",
	"/var/spool/postfix/", "/var/lib/postfix/", "/var/lib/dhcp/"}

func changedByTheOS(path string) bool {
	for _, p := range osChanges {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
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

// secretScanProof: the secrets fail the scan, which names their paths and
// never their values; an allowlist lets the build pass.
func secretScanProof(t *testing.T, bed *Bed) {
	failRun := bed.Build(Template{Hygiene: `    steps = ["secret_scan"]
    report_path = "secret-fail.json"`}, streamTo())
	if failRun.Err == nil {
		t.Errorf("the secret scan passed with secrets on the guest")
	}
	for _, p := range secretPaths {
		if !strings.Contains(failRun.Output, p) {
			t.Errorf("the failed scan does not name %s:\n%s", p, tailString(failRun.Output, 20))
		}
	}
	passRun := bed.MustBuild(Template{Hygiene: `    steps = ["credentials", "secret_scan"]
    report_path = "secret-pass.json"
    secret_scan { allow = ["/opt/app/conf/.deploy/*", "/srv/backup/old/key-copy"] }`})
	for _, run := range []*PackerRun{failRun, passRun} {
		log, _ := os.ReadFile(run.Log)
		for _, v := range secretValues {
			if strings.Contains(run.Output, v) || strings.Contains(string(log), v) {
				t.Errorf("a secret value is in Packer's output or log")
			}
		}
	}
	steps := bed.Report("secret-pass.json")["steps"].([]interface{})
	counts, _ := steps[len(steps)-1].(map[string]interface{})["counts"].(map[string]interface{})
	if counts["allowed"] != float64(2) || counts["findings"] != float64(0) {
		t.Errorf("secret_scan counts %v, want 2 allowed and no finding", counts)
	}
}

// findingTargets lists the targets of the report's findings.
func findingTargets(report map[string]interface{}) []string {
	var out []string
	findings, _ := report["findings"].([]interface{})
	for _, f := range findings {
		out = append(out, f.(map[string]interface{})["target"].(string))
	}
	sort.Strings(out)
	return out
}

// reportTargets lists the targets of every action with the verb.
func reportTargets(report map[string]interface{}, verb string) []string {
	var out []string
	for _, s := range report["steps"].([]interface{}) {
		for _, a := range s.(map[string]interface{})["actions"].([]interface{}) {
			act := a.(map[string]interface{})
			if act["action"] == verb {
				out = append(out, act["target"].(string))
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestDryRunChangesNothing: the same dirty guest with dry_run = true keeps
// everything; then, on the same guest, the mail_queue step alone fails by
// default on mail it cannot deliver and purges it with on_timeout = "purge".
func TestDryRunChangesNothing(t *testing.T) {
	bed := NewBed(t, "dryrun")
	// The relay goes down again at once, so that postfix's own retry (minutes
	// later) cannot empty the queue during a slow dry run.
	// Secrets in unusual places, for the secret scan.
	bed.MustBuild(Template{Dirty: true, AfterDirty: append([]string{"systemctl stop e2e-smtp-sink"}, plantSecrets...), Hygiene: "-"})
	// Every regular file of the root filesystem, hashed before and after
	// (the lists live in /run, off that filesystem).
	hashAll := func(name string) {
		bed.Inspect(`find / -xdev -type f -print0 | sort -z | xargs -0 md5sum > /run/amih-` + name + ` 2>/dev/null; true`)
	}
	hashAll("before")
	bed.MustBuild(Template{Hygiene: hygieneBody(`    dry_run = true
    stop_services { services = ["e2e-app"] }`)})
	hashAll("after")
	diff := bed.Inspect(`echo "files=$(wc -l < /run/amih-before)"
diff /run/amih-before /run/amih-after | sed -n 's/^[<>] [0-9a-f]*  /changed=/p' | sort -u; true`)
	changed := diff["changed"]
	for _, path := range changed {
		if !changedByTheOS(path) {
			t.Errorf("the dry run changed %s", path)
		}
	}
	t.Logf("dry run: %s files hashed, %d changed, all by the OS itself: %v", first(diff, "files"), len(changed), changed)
	state := bed.Inspect(inspectScript())
	if n := atoi(first(state, "boots")); n != 1 {
		t.Errorf("the guest booted %d times; a dry run must not reboot", n)
	}
	if u := first(state, "upgrades"); u != "0" && u != "" {
		t.Errorf("a dry run upgraded packages (%s upgrade entries)", u)
	}
	if a := first(state, "app"); a != "active" {
		t.Errorf("a dry run stopped e2e-app.service (%s)", a)
	}
	if q := first(state, "queue"); !strings.Contains(q, "3 Request") {
		t.Errorf("a dry run changed the mail queue: %q", q)
	}
	for _, f := range concat(removable, canaries) {
		if !has(state["present"], f) {
			t.Errorf("a dry run removed %s", f)
		}
	}
	report := bed.Report("report.json")
	if report["dry_run"] != true {
		t.Errorf("report dry_run = %v", report["dry_run"])
	}
	would := reportTargets(report, "remove")
	for _, f := range removable {
		if !has(would, f) {
			t.Errorf("the dry-run report does not say it would remove %s", f)
		}
	}
	if len(reportTargets(report, "reboot")) != 1 {
		t.Errorf("the dry-run report does not say it would reboot")
	}
	if first(state, "machine_id") == "uninitialized" || len(state["hostkey"]) == 0 || first(state, "pw_root") == "!" ||
		first(state, "dropin") != "0" || len(state["rotated"]) == 0 {
		t.Errorf("a dry run changed the identity, the access policy or the logs")
	}
	if !has(reportTargets(report, "reset"), "/etc/machine-id") || !has(reportTargets(report, "lock"), "root") {
		t.Errorf("the dry-run report does not say it would reset the machine-id and lock root's password")
	}
	// The scan and the audit report what they find, without failing a dry run.
	if report["verdict"] != "dry-run" || !has(findingTargets(report), secretPaths[0]) || !has(findingTargets(report), secretPaths[1]) {
		t.Errorf("dry-run verdict %v, findings %v", report["verdict"], findingTargets(report))
	}

	secretScanProof(t, bed)

	// Mail that cannot be delivered (the relay is down).
	failRun := bed.Build(Template{Hygiene: `    steps = ["mail_queue"]
    report_path = "mail-fail.json"
    mail_queue { flush_timeout = "10s" }`}, streamTo())
	if failRun.Err == nil || !strings.Contains(failRun.Output, "3 messages still queued after 10s (flush_timeout)") {
		t.Errorf("undeliverable mail did not fail the build clearly: %v\n%s", failRun.Err, tailString(failRun.Output, 20))
	}
	bed.MustBuild(Template{Hygiene: `    steps = ["mail_queue"]
    report_path = "mail-purge.json"
    mail_queue {
      flush_timeout = "10s"
      on_timeout    = "purge"
    }`})
	after := bed.Inspect(inspectScript())
	if q := first(after, "queue"); !strings.Contains(q, "empty") {
		t.Errorf("mail queue after purge: %q", q)
	}
	steps := bed.Report("mail-purge.json")["steps"].([]interface{})
	counts, _ := steps[0].(map[string]interface{})["counts"].(map[string]interface{})
	if counts["purged"] != float64(3) {
		t.Errorf("purged count %v, want 3", counts["purged"])
	}
}
