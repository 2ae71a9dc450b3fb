//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
)

// TestChecklist: the dirty guest, then an ami-hygiene block with nothing but
// report paths. The guest's state is then read through the guest agent, not
// from the report, and the report must agree with it.
func TestChecklist(t *testing.T) {
	bed := NewBed(t, "checklist")
	// An empty block cannot know which services are the application's:
	// the one block the test adds names it.
	blocks := `    stop_services {
      services = ["e2e-app"]
      disable  = true
    }
    verify {
      name          = "os"
      command       = ". /etc/os-release && echo \"$ID $VERSION_ID\""
      expect_output = "^debian ` + DebianVersion[Suite()] + `$"
    }
    verify {
      name          = "as alice"
      command       = "id -un"
      as_user       = "alice"
      expect_output = "^alice$"
    }`
	blocks += `
    machine_identity { reset_hostname = true }
    final_shutdown { remove_users = ["builder"] }`
	// The first run leaves free_space out; the disk is then read on the host
	// (the guest synced first): what its blocks hold without the step. The
	// same block a second time in the same build (the connection outlives
	// the launch key) is the idempotence run, with free_space.
	//
	// Issue 25: the disk is read before any cleaning too (every planted
	// secret must be on it, or the proof proves nothing), and the blocks the
	// build wrote are measured: the overlay's allocated size after the
	// first run (the build without free_space) and after the build.
	beforeRaw := filepath.Join(bed.Dir, "before-free-space.raw")
	dirtyRaw := filepath.Join(bed.Dir, "dirty.raw")
	withoutFreeSpace := filepath.Join(bed.Dir, "overlay-without-free-space")
	tmpl := Template{Dirty: true, Hygiene: hygieneBody(blocks + `
    skip_steps = ["free_space"]`)}
	if tmpl.Hygiene != "-" {
		tmpl.BeforeHygiene = fmt.Sprintf(`
  provisioner "shell" {
    execute_command = "sudo -n sh -c '{{ .Vars }} {{ .Path }}'"
    inline = ["journalctl --sync || true", "sync"]
  }
  provisioner "shell-local" {
    inline = ["qemu-img convert -U -O raw '%s' '%s'"]
  }
`, bed.VM.Overlay, dirtyRaw)
		tmpl.Provisioners = fmt.Sprintf(`
  provisioner "shell" {
    inline = ["sync"]
  }
  provisioner "shell-local" {
    inline = ["qemu-img convert -U -O raw '%s' '%s'", "stat -c %%b '%s' >'%s'"]
  }
  provisioner "ami-hygiene" {
    report_path = "report-again.json"
%s
  }
`, bed.VM.Overlay, beforeRaw, bed.VM.Overlay, withoutFreeSpace, blocks)
	}
	run := bed.MustBuild(tmpl)
	if tmpl.Hygiene != "-" {
		dirty := countMarkers(t, dirtyRaw, blockSecrets)
		os.Remove(dirtyRaw)
		for _, m := range blockSecrets {
			t.Logf("secret %q: %d copies on the disk before any cleaning", m, dirty[m])
			if dirty[m] == 0 {
				t.Errorf("the disk before any cleaning holds no copy of %q: the disk-read proof would prove nothing for it", m)
			}
		}
		overlayGrowth(t, bed.VM.Overlay, withoutFreeSpace)
	}
	state := bed.Inspect(inspectScript())
	var before, tracesBefore map[string]int
	if tmpl.Hygiene != "-" {
		before = countMarkers(t, beforeRaw, blockSecrets)
		tracesBefore = buildTraces(imageFS{t: t, raw: beforeRaw})
		os.Remove(beforeRaw)
	}

	// Issue 26: one root shell a boot for each ami-hygiene run (the first
	// run's two boots and the second run's one), and no script through a
	// sudo of its own: sudo's own log, a line a call.
	if first(state, "sudo_shells") != "3" || first(state, "sudo_scripts") != "0" {
		t.Errorf("sudo ran %s root shells (want 3: one a boot for each run) and %s scripts of their own (want 0)",
			first(state, "sudo_shells"), first(state, "sudo_scripts"))
	}
	if a := first(state, "app"); a == "active" {
		t.Errorf("e2e-app.service is still active")
	}
	guestIsClean(t, state, "cron", "e2e-app")

	// The report agrees with what the guest shows.
	report := bed.Report("report.json")
	if report.Status != "succeeded" {
		t.Errorf("report status %v", report.Status)
	}
	if r := report.Guest.Reboots; r != atoi(first(state, "boots"))-1 {
		t.Errorf("report says %v reboots, the guest booted %s times", r, first(state, "boots"))
	}
	removed := reportTargets(report, "remove")
	for _, f := range removable {
		if !has(removed, f) && !has(removed, f+"/") {
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
	for _, step := range report.Steps {
		if step.Name == "verify" && (step.Status != provisioner.StatusOK || len(step.Checks) != 2) {
			t.Errorf("verify: status %v, checks %v", step.Status, step.Checks)
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
	if report.Verdict != provisioner.VerdictClean {
		t.Errorf("verdict %v, findings %v", report.Verdict, report.Findings)
	}
	if !has(reportTargets(report, "truncate"), "/var/log/dpkg.log") || !has(reportTargets(report, "lock"), "carol") {
		t.Errorf("the report does not list the truncated dpkg.log or the locked empty password")
	}

	again := bed.Report("report-again.json")
	secondRunChangesNothing(t, again)
	if !has(reportTargets(again, "zero"), "/") || !has(reportTargets(again, "clear-swap"), "/swapfile") {
		t.Errorf("free_space did not zero / and clear /swapfile: %v %v", reportTargets(again, "zero"), reportTargets(again, "clear-swap"))
	}
	// Issue 25: the guest helper read the free blocks (uploaded, checked,
	// run from a tmpfs of the guest), not the sh fallback.
	for _, step := range again.Steps {
		if step.Name == "free_space" && !slices.ContainsFunc(step.Info, func(s string) bool { return strings.HasPrefix(s, "/: sparse (guest helper): ") }) {
			t.Errorf("free_space did not read the free blocks with the guest helper: %q", step.Info)
		}
	}
	cloneProof(t, bed)
	if before != nil {
		imageProof(t, bed, before, tracesBefore)
	}
}

// guestIsClean: on the guest as inspectScript read it, after the dirty
// fixture and a full checklist, everything the fixture planted is gone, the
// canaries stayed, and the image is clone-safe; the units in disabled are
// disabled in it.
func guestIsClean(t *testing.T, state map[string][]string, disabled ...string) {
	t.Helper()
	if n := atoi(first(state, "boots")); n != 2 {
		t.Errorf("the guest booted %d times; want 2 (the first boot and one reboot)", n)
	}
	// The logs step empties /var/log/apt/history.log: nothing left to
	// upgrade (3 packages were, see AMIH_E2E_NO_HYGIENE) and the report's
	// upgrade actions prove the upgrade.
	if p := first(state, "pending"); p != "0" {
		t.Errorf("%s packages still upgradable", p)
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
	if id := first(state, "machine_id"); id != "" {
		t.Errorf("/etc/machine-id is %q, want an empty file", id)
	}
	for _, unit := range disabled {
		if st := first(state, "enabled_"+unit); st != "disabled" {
			t.Errorf("%s.service is %q in the image, want disabled", unit, st)
		}
	}
	for _, rec := range loginRecords {
		if size := first(state, "login_"+rec); size != "" && size != "0" {
			t.Errorf("login record %s is %s bytes in the image, want empty", rec, size)
		}
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
	for _, key := range []string{"leftover14", "swap_off"} {
		if len(state[key]) > 0 {
			t.Errorf("leftovers (%s): %v", key, state[key])
		}
	}
}

// secondRunChangesNothing: the second run of the whole checklist changes
// nothing, but for the log lines the runs themselves write (each step is one
// sudo call: auth.log, auditd's log and the journal record it), which its
// logs step empties again, stopping auditd for that, and root's mail from
// the first run's sudo (the hostname did not resolve), which its mail_queue
// step empties.
func secondRunChangesNothing(t *testing.T, report *provisioner.Report) {
	if report.Status != "succeeded" || report.Verdict != provisioner.VerdictClean {
		t.Errorf("second run: status %v, verdict %v", report.Status, report.Verdict)
	}
	// The first run cleaned cloud-init's state: the second provisioner's
	// wait_for_boot must see that cloud-init will not run again in this boot
	// (cloud-init 25 says "not started", 22.4 "not run") and not wait for it.
	for _, step := range report.Steps {
		if step.Name == "wait_for_boot" && !strings.Contains(strings.Join(step.Info, "\n"), "cloud-init has not run in this boot") {
			t.Errorf("second run: wait_for_boot did not see the cleaned cloud-init: %v", step.Info)
		}
	}
	own := 0
	for _, step := range report.Steps {
		for _, act := range step.Actions {
			verb, target := act.Verb, act.Target
			if step.Name == "logs" && ((verb == "truncate" || verb == "vacuum") && strings.HasPrefix(target, "/var/log/") || verb == "stop" && target == "auditd") {
				own++
				continue
			}
			// The first run's sudo mailed root until machine_identity named
			// the guest localhost (its hostname did not resolve).
			if step.Name == "mail_queue" && verb == "empty" && target == "/var/mail/root" {
				own++
				continue
			}
			// free_space clears the free space and the swap on every run.
			if step.Name == "free_space" {
				continue
			}
			t.Errorf("the second run changed something: %s: %s %s %v", step.Name, verb, target, act.Detail)
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
echo "enabled_cron=$(systemctl is-enabled cron.service)"
echo "enabled_e2e-app=$(systemctl is-enabled e2e-app.service)"
command -v wtmpdb >/dev/null && echo "wtmpdb_boots=$(wtmpdb last 2>/dev/null | grep -c 'system boot')"
echo "swap=$(awk 'NR > 1 { print $1 }' /proc/swaps)"
echo "admin_sudo=$(su admin -c 'sudo -n true' >/dev/null 2>&1 && echo yes || echo no)"
echo "mac=$(cat /sys/class/net/ens2/address)"
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
		// wtmpdb (Debian 13) records the instance's boot in the database the
		// logs step emptied.
		if n := first(state, "wtmpdb_boots"); (n != "" || Suite() == "trixie") && atoi(n) < 1 {
			t.Errorf("%s: wtmpdb recorded no boot in the emptied /var/log/wtmp.db", c.Name)
		}
		// What the build disabled stays disabled: the instance's first
		// boot is not a systemd "first boot" that applies the presets.
		for _, unit := range []string{"cron", "e2e-app"} {
			if st := first(state, "enabled_"+unit); st != "disabled" {
				t.Errorf("%s: %s.service is %q, want disabled as in the image", c.Name, unit, st)
			}
		}
		// The swap file free_space made again is the instance's swap; the
		// default user cloud-init set up has sudo (its rule was removed from
		// the image at the final shutdown and written again); the network
		// came up on the instance's own MAC (SSH reached it).
		if first(state, "swap") != "/swapfile" || first(state, "admin_sudo") != "yes" || first(state, "mac") == bed.VM.MAC {
			t.Errorf("%s: swap %q (want /swapfile), admin's sudo %q, MAC %q (the build's was %s)", c.Name,
				first(state, "swap"), first(state, "admin_sudo"), first(state, "mac"), bed.VM.MAC)
		}
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
			t.Errorf("%s: the audit failed: %v\n%s", c.Name, run.Err, TailLines(run.Output, 30))
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
// and of sudo, lastlog2's database (Debian 13: pam_lastlog2 records the
// login), sudo's timestamps, postfix's own queue runs, the kernel's swap
// file, root's mailbox (sudo mails it: the fixture's hostname does not
// resolve), and the test's own files: its application's heartbeat and the
// log sudo keeps for it.
var osChanges = []string{"/var/log/", "/var/lib/lastlog/", "/var/lib/sudo/", "/var/lib/systemd/timers/", "/var/lib/e2e/heartbeat",
	"/var/lib/e2e/sudo.log", "/var/mail/root", "/var/spool/postfix/", "/var/lib/postfix/", "/var/lib/dhcp/", "/swapfile"}

func changedByTheOS(path string) bool {
	for _, p := range osChanges {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

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
			t.Errorf("the failed scan does not name %s:\n%s", p, TailLines(failRun.Output, 20))
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
	steps := bed.Report("secret-pass.json").Steps
	counts := steps[len(steps)-1].Counts
	if counts["allowed"] != 2 || counts["findings"] != 0 {
		t.Errorf("secret_scan counts %v, want 2 allowed and no finding", counts)
	}
}

// overlayGrowth (issue 25) compares the blocks the build wrote with
// free_space (the overlay's allocated size after the build) with the same
// build without it (its size after the first run, in the file the template
// wrote): at most 1.2 times.
func overlayGrowth(t *testing.T, overlay, withoutFile string) {
	t.Helper()
	data, err := os.ReadFile(withoutFile)
	if err != nil {
		t.Fatalf("the overlay's size after the first run: %v", err)
	}
	without, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatalf("the overlay's size after the first run: %q", data)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(overlay, &st); err != nil {
		t.Fatal(err)
	}
	with := st.Blocks
	t.Logf("overlay: %d MiB written without free_space, %d MiB with it (%.2f ×)", without*512>>20, with*512>>20, float64(with)/float64(without))
	if float64(with) > 1.2*float64(without) {
		t.Errorf("the build with free_space wrote %d MiB, more than 1.2 × the %d MiB without it", with*512>>20, without*512>>20)
	}
}
