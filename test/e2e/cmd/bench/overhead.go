//go:build e2e

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/e2e"
)

// P6: two sources in one build. The template has two null sources, a and
// b, each on a guest of its own, and the cleanup-only checklist of P2 (the
// guest's work without the package mirror's). Each round: a alone and b
// alone (`-only`), each on a fresh dirty guest with no other guest running,
// then both in one `packer build -parallel-builds=2` on two fresh dirty
// guests. The figure is the pair's wall time over the slower single one's.
func (b *bench) p6(r int, side string) error {
	if side != "plugin" {
		return nil // no shell side: the figure is the plugin against itself
	}
	var single [2]float64
	for i, only := range []string{"null.a", "null.b"} {
		dir := filepath.Join(b.dir, fmt.Sprintf("p6-r%d-%s", r, only))
		vm, key, err := b.guest(dir)
		if err != nil {
			return err
		}
		single[i], err = twoSourceBuild(dir, [2]int{vm.SSHPort, vm.SSHPort}, [2]string{key.Private, key.Private}, "-only="+only)
		vm.Kill()
		if err != nil {
			return err
		}
	}
	dir := filepath.Join(b.dir, fmt.Sprintf("p6-r%d-both", r))
	var vms [2]*e2e.VM
	var keys [2]string
	var errs [2]error
	var wg sync.WaitGroup
	for i, name := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var key *e2e.Key
			if vms[i], key, errs[i] = b.guest(filepath.Join(dir, name)); errs[i] == nil {
				keys[i] = key.Private
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, vm := range vms {
			if vm != nil {
				vm.Kill()
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	both, err := twoSourceBuild(dir, [2]int{vms[0].SSHPort, vms[1].SSHPort}, keys, "-parallel-builds=2")
	if err != nil {
		return err
	}
	for _, name := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(dir, "ami-hygiene-report-null."+name+".json")); err != nil {
			return fmt.Errorf("the two-source build wrote no report of its own for %s: %v", name, err)
		}
	}
	b.add("P6 single-source build, slower (s)", max(single[0], single[1]))
	b.add("P6 two-source build (s)", both)
	return nil
}

// twoSourceBuild runs `packer build flag` of the two-source template
// (source a on ports[0] with keys[0], b on ports[1] with keys[1]; a single
// build gives both its guest) in dir and returns its wall time.
func twoSourceBuild(dir string, ports [2]int, keys [2]string, flag string) (float64, error) {
	var src strings.Builder
	for i, name := range []string{"a", "b"} {
		fmt.Fprintf(&src, `source "null" %q {
  ssh_host             = "127.0.0.1"
  ssh_port             = %d
  ssh_username         = "admin"
  ssh_private_key_file = %q
  ssh_timeout          = "20m"
}
`, name, ports[i], keys[i])
	}
	tmpl := `packer {
  required_plugins {
    ami-hygiene = {
      version = ">= 0.0.1"
      source  = "github.com/ami-hygiene/ami-hygiene"
    }
  }
}
` + src.String() + `
build {
  sources = ["source.null.a", "source.null.b"]
  provisioner "ami-hygiene" {
` + p2HCL + `
  }
}
`
	path := filepath.Join(dir, "two-sources.pkr.hcl")
	if err := os.WriteFile(path, []byte(tmpl), 0o644); err != nil {
		return 0, err
	}
	start := time.Now()
	run := e2e.RunPackerArgs(dir, []string{"build", "-color=false", flag, path}, nil, nil, 60*time.Minute)
	wall := time.Since(start).Seconds()
	if run.Err != nil {
		return 0, fmt.Errorf("packer build %s: %v\n%s", flag, run.Err, e2e.TailLines(run.Output, 30))
	}
	return wall, nil
}

// bootID is the shape of a Linux boot id.
var bootID = regexp.MustCompile(`^[0-9a-f-]{32,36}$`)

// p7 is the plugin's own cost in the P1 plugin build just made in dir (the
// full checklist with a forced reboot): the plugin's run (the report's
// started to finished) minus the guest's own work, that is every script's
// time on the guest (the report's guest_seconds) and the reboot's downtime
// (from the guest's journal: sudo running the plugin's reboot command, plus
// the one second that command waits before it reboots — or, where the
// command went through the boot's root shell, which asks for the reboot at
// once, logind's "System is rebooting" — to sshd listening in the new
// boot). Also per step: its duration minus its guest_seconds (and
// the downtime, for the step that rebooted).
func (b *bench) p7(vm *e2e.VM, dir string) error {
	rep, err := e2e.ReadReport(filepath.Join(dir, "report.json"))
	if err != nil {
		return err
	}
	ids := rep.Guest.BootIDs
	if len(ids) < 2 {
		return fmt.Errorf("P7: the report has no reboot (boot ids %v)", ids)
	}
	for _, id := range ids[len(ids)-2:] {
		if !bootID.MatchString(id) {
			return fmt.Errorf("P7: the report's boot id %q is not one", id)
		}
	}
	out, code, err := vm.Exec(fmt.Sprintf(`journalctl --merge _BOOT_ID=%s -o short-unix --no-pager | awk '/COMMAND=/ && /no-reconnect/ { t = $1 } / System is rebooting/ && !r { r = $1 } END { print "requested", t; print "rebooting", r }'
journalctl --merge _BOOT_ID=%s _SYSTEMD_UNIT=ssh.service -o short-unix --no-pager | awk '/Server listening on/ { print "listening", $1; exit }'
`, strings.ReplaceAll(ids[len(ids)-2], "-", ""), strings.ReplaceAll(ids[len(ids)-1], "-", "")), time.Minute)
	if err != nil || code != 0 {
		return fmt.Errorf("P7: reading the guest journal: %v (exit %d) %s", err, code, out)
	}
	stamp := map[string]float64{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			stamp[f[0]], _ = strconv.ParseFloat(f[1], 64)
		}
	}
	// The reboot command's own sudo line (a session a script), or, where it
	// went through the boot's root shell, logind's word when the reboot was
	// asked for (the plugin's time until then is its own).
	if stamp["requested"] == 0 && stamp["rebooting"] != 0 {
		stamp["requested"] = stamp["rebooting"] - 1
	}
	downtime := stamp["listening"] - (stamp["requested"] + 1)
	if stamp["requested"] == 0 || stamp["listening"] == 0 || downtime <= 0 {
		return fmt.Errorf("P7: no reboot request or sshd start in the guest's journal: %q", out)
	}
	plugin := rep.Finished.Sub(rep.Started).Seconds()
	guest := downtime
	for _, st := range rep.Steps {
		guest += st.GuestSeconds
		own := st.DurationSeconds - st.GuestSeconds
		for _, act := range st.Actions {
			if act.Verb == "reboot" {
				own -= downtime
			}
		}
		b.add("P7 overhead, step "+st.Name+" (s)", own)
	}
	b.add("P7 guest's own work: scripts and reboot (s)", guest)
	b.add("P7 reboot downtime (s)", downtime)
	b.add("P7 plugin run (s)", plugin)
	b.add("P7 plugin overhead per build (s)", plugin-guest)
	return nil
}
