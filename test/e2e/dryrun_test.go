//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
)

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
	if !report.DryRun {
		t.Errorf("report dry_run = %v", report.DryRun)
	}
	would := reportTargets(report, "remove")
	for _, f := range removable {
		if !has(would, f) && !has(would, f+"/") {
			t.Errorf("the dry-run report does not say it would remove %s", f)
		}
	}
	if !has(reportTargets(report, "zero"), "/") || !has(reportTargets(report, "clear-swap"), "/swapfile") ||
		len(reportTargets(report, "install")) != 1 {
		t.Errorf("the dry-run report does not say it would zero /, clear the swap file and install the final shutdown's unit: %v %v %v",
			reportTargets(report, "zero"), reportTargets(report, "clear-swap"), reportTargets(report, "install"))
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
	if report.Verdict != provisioner.VerdictDryRunAudit || !has(findingTargets(report), secretPaths[0]) || !has(findingTargets(report), secretPaths[1]) {
		t.Errorf("dry-run verdict %v, findings %v", report.Verdict, findingTargets(report))
	}

	secretScanProof(t, bed)

	// Mail that cannot be delivered (the relay is down).
	failRun := bed.Build(Template{Hygiene: `    steps = ["mail_queue"]
    report_path = "mail-fail.json"
    mail_queue { flush_timeout = "10s" }`}, streamTo())
	if failRun.Err == nil || !strings.Contains(failRun.Output, "3 messages still queued after 10s (flush_timeout)") {
		t.Errorf("undeliverable mail did not fail the build clearly: %v\n%s", failRun.Err, TailLines(failRun.Output, 20))
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
	if purged := bed.Report("mail-purge.json").Steps[0].Counts["purged"]; purged != 3 {
		t.Errorf("purged count %v, want 3", purged)
	}
}
