//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
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
		"/home/bob/.bash_history", "/home/bob/.zsh_history"}
	plantedCredentials = []string{"/root/.aws/credentials", "/home/admin/.docker/config.json",
		"/home/alice/.git-credentials", "/home/bob/.ssh/id_deploy"}
	plantedKeys = []string{"/root/.ssh/authorized_keys", "/home/admin/.ssh/authorized_keys",
		"/home/alice/.ssh/authorized_keys", "/home/alice/.ssh/authorized_keys2", "/home/bob/.ssh/authorized_keys"}
	// removable is everything the checklist must remove.
	removable = concat(plantedHistories, plantedCredentials, plantedKeys)
	canaries  = []string{"/srv/app/.bash_history", "/home/admin/history.txt", "/home/alice/.bash_history.d/keep",
		"/home/admin/.ssh/authorized_keys.example", "/home/bob/.ssh/id_deploy.pub", "/root/.docker-config-example.json"}
)

// inspectScript reads the guest's state as root through the guest agent.
func inspectScript() string {
	all := concat(removable, canaries)
	return `set -u
echo "boots=$(wc -l < /var/lib/e2e/boots)"
echo "app=$(systemctl is-active e2e-app.service)"
echo "queue=$(postqueue -p | tail -n 1)"
echo "mailbox=$(stat -c %s /var/mail/admin 2>/dev/null || echo missing)"
echo "pending=$(apt-get -s -o Debug::NoLocking=1 dist-upgrade 2>/dev/null | grep -c '^Inst ')"
echo "upgrades=$(grep -c '^Upgrade:' /var/log/apt/history.log 2>/dev/null)"
for f in ` + strings.Join(all, " ") + `; do [ -e "$f" ] && echo "present=$f"; done
find / -xdev \( -name authorized_keys -o -name authorized_keys2 \) -type f | sed 's/^/authkeys=/'
find /root /home -xdev -name '.*history' -type f | sed 's/^/history=/'
true`
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
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
	bed.MustBuild(Template{Dirty: true, Hygiene: hygieneBody(`    stop_services { services = ["e2e-app"] }
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
    }`)})
	state := bed.Inspect(inspectScript())

	if n := atoi(first(state, "boots")); n != 2 {
		t.Errorf("the guest booted %d times; want 2 (the first boot and one reboot)", n)
	}
	if first(state, "upgrades") == "0" || first(state, "upgrades") == "" {
		t.Errorf("no upgrade in /var/log/apt/history.log")
	}
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
	if len(state["authkeys"]) > 0 {
		t.Errorf("authorized_keys left: %v", state["authkeys"])
	}
	if len(state["history"]) > 0 {
		t.Errorf("history files left: %v", state["history"])
	}
	for _, f := range canaries {
		if !has(state["present"], f) {
			t.Errorf("canary %s was removed", f)
		}
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
	bed.MustBuild(Template{Dirty: true, AfterDirty: []string{"systemctl stop e2e-smtp-sink"}, Hygiene: hygieneBody(`    dry_run = true
    stop_services { services = ["e2e-app"] }`)})
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
