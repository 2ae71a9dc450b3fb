//go:build e2e

package e2e

import (
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFaults: the faults of a real build, one after the other on one guest.
// Each fault is set up as root through the guest agent (not through SSH),
// the run it breaks must end the way the docs say, and a run once the fault
// is gone must converge.
func TestFaults(t *testing.T) {
	bed := NewBed(t, "faults")
	asRoot := func(script string) { bed.Inspect("set -e\n" + script + "\necho done=1") }
	history := `    steps = ["shell_history"]
    report_path = "report.json"`
	mustFail := func(name, hygiene, want string) {
		t.Helper()
		run := bed.Build(Template{Hygiene: hygiene}, streamTo())
		if run.Err == nil || !strings.Contains(run.Output, want) {
			t.Errorf("%s: the build did not fail with %q: %v\n%s", name, want, run.Err, TailLines(run.Output, 25))
		}
	}

	// A basic tool is missing: the probe names it before any step runs.
	t.Log("fault: awk is missing")
	asRoot(`printf 'history-1\n' > /root/.bash_history
mv /usr/bin/awk /usr/bin/awk.e2e-hidden`)
	mustFail("missing tool", history, `the guest lacks awk on the PATH of user "admin"`)
	state := bed.Inspect(`[ -e /root/.bash_history ] && echo history=kept; true`)
	if first(state, "history") != "kept" {
		t.Errorf("a step ran although the probe found awk missing")
	}
	asRoot(`mv /usr/bin/awk.e2e-hidden /usr/bin/awk`)
	converges(t, bed, history, "/root/.bash_history")

	// The disk is full: the checklist needs no disk space of its own (each
	// script reaches sh through the boot shell's here-document, a pipe;
	// issue 26), so the build runs and removes the history. (Debian 13's
	// /tmp is a tmpfs that a full disk does not fill: the test takes it
	// away first, so that no temporary file could be made there either.)
	// Where the communicator keeps no shell, the runner's temporary file
	// is needed, and a full disk is named: "is its disk full?" (unit tests).
	t.Log("fault: the root filesystem is full")
	asRoot(unmountTmpfsTmp + `printf 'history-2\n' > /root/.bash_history
i=0
for size in 1G 128M 16M 2M 256K 32K 4K; do
  while fallocate -l $size /var/lib/e2e-fill-$((i = i + 1)) 2>/dev/null; do :; done
done
sync`)
	full := bed.Inspect(`df -P --output=avail / | tail -n 1 | awk '{ print "avail=" $1 }'`)
	if run := bed.Build(Template{Hygiene: history}, streamTo()); run.Err != nil {
		t.Errorf("the build failed on a full disk (%s KiB free): %v\n%s", first(full, "avail"), run.Err, TailLines(run.Output, 25))
	} else if !has(reportTargets(bed.Report("report.json"), "remove"), "/root/.bash_history") {
		t.Errorf("the build on a full disk did not remove /root/.bash_history")
	}
	asRoot(`rm -f /var/lib/e2e-fill-*`)

	// The SSH session is cut in the middle of a step: stopping this unit
	// kills every SSH session of the build user, as a network drop or an
	// sshd restart would (OpenSSH 9.8 and later, Debian 13, run each session
	// as "sshd-session: admin"). The step runs again from the start and the
	// build goes on.
	t.Log("fault: the SSH session is cut mid-step")
	asRoot(`printf '[Service]\nExecStart=/bin/sleep infinity\nExecStop=/bin/sh -c "pkill -KILL -f \\"^sshd(-session)?: admin\\"; sleep 2"\n' > /etc/systemd/system/e2e-cut.service
systemctl daemon-reload
systemctl start e2e-cut.service`)
	stop := `    steps = ["stop_services"]
    report_path = "report.json"
    stop_services { services = ["e2e-cut"] }`
	run := bed.MustBuild(Template{Hygiene: stop})
	if !strings.Contains(run.Output, "the SSH session was cut while stop_services.sh ran; running it again from the start (attempt 2 of 3)") {
		t.Errorf("the cut session was not retried visibly:\n%s", TailLines(run.Output, 25))
	}
	if s := bed.Inspect(`echo "state=$(systemctl is-active e2e-cut.service)"; true`); first(s, "state") == "active" {
		t.Errorf("e2e-cut.service is still active after the retried step")
	}
	step := bed.Report("report.json").Steps[0]
	if w := step.Warnings; len(w) == 0 || !strings.Contains(w[0], "ran 2 times") {
		t.Errorf("the report does not say the step ran twice: %v", step.Warnings)
	}
	run = bed.MustBuild(Template{Hygiene: stop})
	if !strings.Contains(run.Output, "stop_services: ok in") {
		t.Errorf("a rerun after the cut did not converge (changes left):\n%s", TailLines(run.Output, 15))
	}

	// The boot's root shell (issue 26) is killed in the middle of a step,
	// not the SSH session: the step fails, saying so, and a run once the
	// fault is gone converges.
	t.Log("fault: the root shell is killed mid-step")
	asRoot(`printf 'history-3\n' > /root/.bash_history`)
	mustFail("killed shell", `    steps = ["verify", "shell_history"]
    report_path = "report.json"
    verify {
      name    = "kill the shell"
      command = "pkill -KILL -x -f 'sh -s'; sleep 2"
    }`, "the guest's shell ended while the script ran: the step did not finish")
	if s := bed.Inspect(`[ -e /root/.bash_history ] && echo history=kept; true`); first(s, "history") != "kept" {
		t.Errorf("a step ran after the shell died")
	}
	converges(t, bed, history, "/root/.bash_history")

	// The guest ignores the reboot: the run fails after reboot_timeout,
	// saying the guest never went down.
	t.Log("fault: the guest ignores the reboot")
	asRoot(`for c in systemctl shutdown reboot; do
  printf '#!/bin/sh\ncase " $* " in *" reboot "*|*" -r "*) echo e2e: reboot ignored >&2; exit 0 ;; esac\n[ "${0##*/}" = systemctl ] && exec /usr/bin/systemctl "$@"\nexit 0\n' > /usr/local/sbin/$c
  chmod 755 /usr/local/sbin/$c
done`)
	reboot := func(timeout string) string {
		return `    steps = ["verify"]
    report_path = "report.json"
    reboot_before_verify = true
    reboot_timeout = "` + timeout + `"
    verify {
      name    = "boot"
      command = "cat /proc/sys/kernel/random/boot_id"
    }`
	}
	bootID := func() string { return first(bed.Inspect(`echo "id=$(cat /proc/sys/kernel/random/boot_id)"`), "id") }
	before := bootID()
	mustFail("ignored reboot", reboot("20s"), "the guest did not reboot: it still answers with its old boot id after 20s (reboot_timeout)")
	if id := bootID(); id != before {
		t.Errorf("the guest rebooted (boot id %s, was %s) although the reboot was ignored", id, before)
	}

	// sshd comes back 30s after the reboot: the run waits for it.
	t.Log("fault: sshd starts 30s late after the reboot")
	asRoot(`rm -f /usr/local/sbin/systemctl /usr/local/sbin/shutdown /usr/local/sbin/reboot
mkdir -p /etc/systemd/system/ssh.service.d
printf '[Service]\nExecStartPre=/bin/sleep 30\n' > /etc/systemd/system/ssh.service.d/e2e-late.conf
systemctl daemon-reload`)
	run = bed.MustBuild(Template{Hygiene: reboot("10m")})
	back := regexp.MustCompile(`the guest is back after ([0-9.]+)s`).FindStringSubmatch(run.Output)
	if back == nil {
		t.Fatalf("no reboot in the output:\n%s", TailLines(run.Output, 25))
	}
	if s, _ := strconv.ParseFloat(back[1], 64); s < 30 {
		t.Errorf("the guest was back after %.1fs, before sshd could have started (30s late)", s)
	}
	asRoot(`rm -rf /etc/systemd/system/ssh.service.d
systemctl daemon-reload`)
	if bootID() == before {
		t.Errorf("the guest did not reboot after the fault was gone")
	}

	hostileInputProof(t, bed)
	// Last: it takes the build key away.
	noRebootAfterKeysProof(t, bed, bootID)
}

// noRebootAfterKeysProof: once authorized_keys has run, a later ami-hygiene
// provisioner of the same build that would reboot (and so reconnect, with a
// key that is gone) is refused before the reboot, and the guest stays up.
func noRebootAfterKeysProof(t *testing.T, bed *Bed, bootID func() string) {
	before := bootID()
	run := bed.Build(Template{Hygiene: `    steps = ["authorized_keys"]
    report_path = "keys.json"`, Provisioners: `
  provisioner "ami-hygiene" {
    steps                = ["verify"]
    report_path          = "after-keys.json"
    reboot_before_verify = true
    verify {
      name    = "boot"
      command = "true"
    }
  }
`}, streamTo())
	want := "refusing to reboot: the build could not connect again (authorized_keys removed the keys the build connects with earlier in this build)"
	if run.Err == nil || !strings.Contains(run.Output, want) {
		t.Errorf("a reboot after authorized_keys was not refused: %v\n%s", run.Err, TailLines(run.Output, 20))
	}
	if id := bootID(); id != before {
		t.Errorf("the guest rebooted after authorized_keys")
	}
}

// converges runs the block again with the fault gone: it must succeed and
// remove the file the failed run left.
func converges(t *testing.T, bed *Bed, hygiene, removed string) {
	t.Helper()
	bed.MustBuild(Template{Hygiene: hygiene})
	if !has(reportTargets(bed.Report("report.json"), "remove"), removed) {
		t.Errorf("the rerun did not remove %s", removed)
	}
}

// hostileInputProof: user text made of shell syntax, in every field that
// accepts it, reaches the guest's scripts as data. A file literally named
// like a command substitution is removed as named, and the marker file the
// commands would create never appears.
func hostileInputProof(t *testing.T, bed *Bed) {
	const marker = "/var/lib/amih-marker"
	hostile := []string{"$(touch " + marker + ")", "`touch " + marker + "`", "'; touch " + marker + "; '",
		`"; touch ` + marker + `; "`, "a;touch " + marker, "a && touch " + marker, "a|touch " + marker,
		"a;touch$IFS" + marker, "x\\'$(touch " + marker + ")"}
	literal := "/srv/creds/" + hostile[0] // a credential file with that very name
	bed.Inspect("mkdir -p '" + path.Dir(literal) + "'\nprintf 'x\\n' > '" + literal + "'\necho planted=1")
	list := func(prefix string) string {
		var quoted []string
		for _, h := range hostile {
			quoted = append(quoted, hclString(prefix+h))
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	bed.MustBuild(Template{Hygiene: `    steps = ["shell_history", "credentials", "logs", "caches", "secret_scan"]
    report_path = "report.json"
    shell_history { extra_patterns = ` + list("") + ` }
    credentials   { paths = ` + list("/srv/creds/") + ` }
    logs          { exclude = ` + list("/var/log/") + ` }
    caches        { exclude = ` + list("/tmp/") + ` }
    secret_scan {
      paths = ` + list("/srv/") + `
      allow = ` + list("/opt/") + `
    }`})
	state := bed.Inspect(`[ -e ` + marker + ` ] && echo marker=present
[ -e '` + literal + `' ] && echo literal=present
true`)
	if first(state, "marker") != "" {
		t.Errorf("a hostile value ran as a command on the guest (%s exists)", marker)
	}
	if first(state, "literal") != "" || !has(reportTargets(bed.Report("report.json"), "remove"), literal) {
		t.Errorf("the file named %q was not removed as named", literal)
	}
	t.Logf("%d hostile values in 6 fields reached the guest as data", len(hostile))
}

// hclString quotes s for HCL: a Go quoted string with HCL's template
// introducers doubled.
func hclString(s string) string {
	q := strconv.Quote(s)
	return strings.NewReplacer("${", "$${", "%{", "%%{").Replace(q)
}
