//go:build e2e

// Command bench is `make bench`: the plugin against the same checklist
// written as Packer `shell` provisioners, on the e2e guest image, in one run,
// alternating the two sides, each build on a fresh overlay.
//
//	P1  full checklist with a forced reboot: plugin vs shell provisioners
//	    the way Packer's docs advise (expect_disconnect on the reboot,
//	    pause_before on the next one). Ratio of the builds' wall times.
//	P2  cleanup-only steps (no update, no reboot): plugin vs one shell
//	    provisioner running one script that does the same work. Ratio.
//	P3  reboot detection: from the guest's sshd listening again to the
//	    build's next SSH connection starting (both from the guest's journal,
//	    sshd at LogLevel VERBOSE); the login that follows is the guest's own
//	    handshake and is reported apart.
//	P4  secret scan: the plugin's scanner vs one `grep -rIlE` with the same
//	    rules over a generated tree of 100k files, on this machine. Ratio.
//	P5  peak RSS of the plugin process during P1.
//	P6  two sources in one build: the wall time of one `packer build
//	    -parallel-builds=2` of two sources, each on its own guest, over the
//	    slower of the two single-source builds (P2's checklist).
//	P7  the plugin's own cost in the P1 plugin build: its run minus the
//	    guest's own work (every script's time on the guest, from their
//	    completion records, and the reboot's downtime, from the guest's
//	    journal); per build and per step.
//	P8  clearing free space: seconds per GiB of free space of the plugin's
//	    free_space (its default mode, sparse: the free space read, the
//	    blocks that hold data written) vs one plain `dd` of zeros over the
//	    same disk's free space, each on a fresh guest. Ratio. And the blocks
//	    each wrote: the overlay's allocated size after the build.
//	P9  the audit's whole-image search (key files, histories, credentials,
//	    private keys anywhere in the image; its time from its own info
//	    line) vs one plain `find -xdev` of the same tree (100k files shaped
//	    like an image's /usr), on this machine. Ratio.
//
// Both sides run the very same guest scripts (provisioner.StepScripts), so
// the figures compare orchestration, not work. BENCH_ROUNDS (default 3)
// sets the rounds, BENCH_ONLY (e.g. "P2,P4") a subset. The table goes to
// stdout and to test/e2e/.work/bench-<time>/results.md.
package main

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/provisioner"
	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/e2e"
)

// p1Raw and p1HCL are the same configuration: the whole checklist with a
// forced reboot. The journal is kept on both sides so that P3 can be read.
var (
	p1Raw = map[string]interface{}{
		"update_packages": map[string]interface{}{"reboot": "always"},
		"verify":          []map[string]interface{}{{"name": "os", "command": ". /etc/os-release && echo $ID", "expect_output": "^debian$"}},
		"stop_services":   map[string]interface{}{"services": []string{"e2e-app"}},
		"logs":            map[string]interface{}{"keep_journal": true},
	}
	p1HCL = `    update_packages { reboot = "always" }
    verify {
      name          = "os"
      command       = ". /etc/os-release && echo $ID"
      expect_output = "^debian$"
    }
    stop_services { services = ["e2e-app"] }
    logs { keep_journal = true }`
	cleanupSteps = []string{"machine_identity", "logs", "caches", "access_policy", "shell_history", "credentials", "authorized_keys"}
	p2Raw        = map[string]interface{}{"steps": cleanupSteps}
	p2HCL        = `    steps = ["` + strings.Join(cleanupSteps, `", "`) + `"]`
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; e2e.KillAll(); os.Exit(130) }()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		e2e.KillAll()
		os.Exit(1)
	}
}

// bench holds one run's samples.
type bench struct {
	dir     string
	img     *e2e.Image
	samples map[string][]float64
}

func (b *bench) add(name string, v float64) {
	b.samples[name] = append(b.samples[name], v)
	fmt.Printf("bench: %s = %.3f\n", name, v)
}

func run() error {
	rounds := 3
	if v := os.Getenv("BENCH_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("BENCH_ROUNDS=%q: want a number >= 1", v)
		}
		rounds = n
	}
	only := map[string]bool{"P1": true, "P2": true, "P4": true, "P6": true, "P8": true, "P9": true}
	if v := os.Getenv("BENCH_ONLY"); v != "" {
		only = map[string]bool{}
		for _, p := range strings.Split(v, ",") {
			only[strings.TrimSpace(strings.ToUpper(p))] = true
		}
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	b := &bench{dir: filepath.Join(root, "test", "e2e", ".work", "bench-"+time.Now().Format("20060102-150405")), samples: map[string][]float64{}}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	if only["P1"] || only["P2"] || only["P6"] || only["P8"] {
		if b.img, err = e2e.EnsureImage(os.Stdout, e2e.Suite()); err != nil {
			return err
		}
	}
	started := time.Now()
	for r := 1; r <= rounds; r++ {
		sides := []string{"plugin", "shell"}
		if r%2 == 0 {
			sides = []string{"shell", "plugin"}
		}
		for _, p := range []struct {
			name string
			fn   func(r int, side string) error
		}{{"P1", b.p1}, {"P2", b.p2}, {"P4", b.p4}, {"P6", b.p6}, {"P8", b.p8}, {"P9", b.p9}} {
			if !only[p.name] {
				continue
			}
			for _, side := range sides {
				fmt.Printf("bench: round %d/%d, %s, %s\n", r, rounds, p.name, side)
				if err := p.fn(r, side); err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", r, p.name, side, err)
				}
			}
		}
	}
	table := b.table(rounds, time.Since(started))
	fmt.Print("\n" + table)
	out := filepath.Join(b.dir, "results.md")
	if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
		return err
	}
	fmt.Println("bench: written to", out)
	return nil
}

// guest boots a fresh overlay and makes it dirty with the e2e fixture.
func (b *bench) guest(dir string) (*e2e.VM, *e2e.Key, error) {
	if err := os.MkdirAll(filepath.Join(dir, "dirty"), 0o755); err != nil {
		return nil, nil, err
	}
	key, err := e2e.NewKey(dir, "key")
	if err != nil {
		return nil, nil, err
	}
	overlay, err := e2e.NewOverlay(b.img, dir, "guest")
	if err != nil {
		return nil, nil, err
	}
	seed, err := e2e.NoCloudSeed(dir, "iid-bench", key)
	if err != nil {
		return nil, nil, err
	}
	vm, err := e2e.StartVM(b.img, dir, overlay, seed)
	if err != nil {
		return nil, nil, err
	}
	// sshd's VERBOSE level logs when each connection starts (for P3).
	dirty := e2e.RunPacker(filepath.Join(dir, "dirty"), e2e.Template{SSHPort: vm.SSHPort, Key: key, Dirty: true, Hygiene: "-",
		AfterDirty: []string{"echo 'LogLevel VERBOSE' > /etc/ssh/sshd_config.d/01-bench.conf"}}.Render(), nil, 30*time.Minute)
	if dirty.Err != nil {
		vm.Kill()
		return nil, nil, fmt.Errorf("dirty fixture: %v\n%s", dirty.Err, e2e.TailLines(dirty.Output, 20))
	}
	return vm, key, nil
}

// build runs the measured `packer build` and returns its wall time.
func build(dir string, vm *e2e.VM, key *e2e.Key, hygiene, provisioners string) (float64, error) {
	tmpl := e2e.Template{SSHPort: vm.SSHPort, Key: key, Hygiene: hygiene, Provisioners: provisioners}
	start := time.Now()
	run := e2e.RunPacker(dir, tmpl.Render(), nil, 60*time.Minute)
	wall := time.Since(start).Seconds()
	if run.Err != nil {
		return 0, fmt.Errorf("packer build: %v\n%s", run.Err, e2e.TailLines(run.Output, 30))
	}
	return wall, nil
}

// measure boots a dirty guest for one build and times that build: the
// plugin with the block body hcl (and its peak RSS), or the provisioners
// shell writes. The caller kills the returned VM.
func (b *bench) measure(dir, side, hcl string, shell func(dir string) (string, error)) (vm *e2e.VM, wall float64, rssKiB int, err error) {
	vm, key, err := b.guest(dir)
	if err != nil {
		return nil, 0, 0, err
	}
	if side == "plugin" {
		rss := watchRSS("packer-plugin-ami-hygiene")
		wall, err = build(dir, vm, key, "    report_path = \"report.json\"\n"+hcl, "")
		rssKiB = rss()
	} else {
		var provisioners string
		if provisioners, err = shell(dir); err == nil {
			wall, err = build(dir, vm, key, "-", provisioners)
		}
	}
	return vm, wall, rssKiB, err
}

func (b *bench) p1(r int, side string) error {
	dir := filepath.Join(b.dir, fmt.Sprintf("p1-r%d-%s", r, side))
	vm, wall, rss, err := b.measure(dir, side, p1HCL, shellP1)
	if vm != nil {
		defer vm.Kill()
	}
	if err != nil {
		return err
	}
	b.add("P1 "+side+" build (s)", wall)
	if side == "plugin" {
		b.add("P5 plugin peak RSS (MiB)", float64(rss)/1024)
	}
	connect, login, err := reconnectDelay(vm, dir)
	if err != nil {
		return err
	}
	b.add("P3 "+side+" (s)", connect)
	b.add("P3 "+side+" login after connect (s)", login)
	if side == "plugin" {
		return b.p7(vm, dir)
	}
	return nil
}

func (b *bench) p2(r int, side string) error {
	dir := filepath.Join(b.dir, fmt.Sprintf("p2-r%d-%s", r, side))
	vm, wall, _, err := b.measure(dir, side, p2HCL, shellP2)
	if vm != nil {
		defer vm.Kill()
	}
	if err != nil {
		return err
	}
	b.add("P2 "+side+" build (s)", wall)
	return nil
}

const sudoSh = `sudo -n sh '{{ .Path }}'`

// shellP1 writes the checklist as shell provisioners, one per step, with the
// reboot Packer's docs advise: expect_disconnect, then pause_before.
func shellP1(dir string) (string, error) {
	scripts, err := provisioner.StepScripts(p1Raw)
	if err != nil {
		return "", err
	}
	var hcl strings.Builder
	for i, s := range scripts {
		path, err := writeScript(dir, fmt.Sprintf("%02d-%s.sh", i+1, s.Name), s.Body)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&hcl, "\n  provisioner \"shell\" {\n    script          = %q\n    execute_command = %q\n  }\n", path, sudoSh)
		if s.Name == "update_packages" {
			fmt.Fprintf(&hcl, "\n  provisioner \"shell\" {\n    inline            = [\"sudo -n systemctl reboot\"]\n    expect_disconnect = true\n  }\n")
			fmt.Fprintf(&hcl, "\n  provisioner \"shell\" {\n    pause_before    = \"10s\"\n    script          = %q\n    execute_command = %q\n  }\n",
				filepath.Join(dir, "steps", "01-"+scripts[0].Name+".sh"), sudoSh)
		}
	}
	return hcl.String(), nil
}

// shellP2 writes the cleanup steps as one script for one shell provisioner.
func shellP2(dir string) (string, error) {
	scripts, err := provisioner.StepScripts(p2Raw)
	if err != nil {
		return "", err
	}
	var body strings.Builder
	body.WriteString("#!/bin/sh\n")
	for _, s := range scripts {
		fmt.Fprintf(&body, "(\n%s\n) || exit 1\n", strings.TrimPrefix(s.Body, "#!/bin/sh\n"))
	}
	path, err := writeScript(dir, "cleanup.sh", body.String())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("\n  provisioner \"shell\" {\n    script          = %q\n    execute_command = %q\n  }\n", path, sudoSh), nil
}

func writeScript(dir, name, body string) (string, error) {
	path := filepath.Join(dir, "steps", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(body), 0o644)
}

// reconnectDelay reads the guest's journal of the current boot (the one
// after the reboot): from sshd listening (the last start before the build's
// first login: sshd may start twice during a boot) to the start of the
// connection that logged in, and from there to the login (the guest's own
// handshake and PAM). The journal's sshd lines are kept in dir.
func reconnectDelay(vm *e2e.VM, dir string) (connect, login float64, err error) {
	if err := vm.WaitAgent(5 * time.Minute); err != nil {
		return 0, 0, err
	}
	// --merge: journalctl shows only the files of the machine id in
	// /etc/machine-id otherwise, and machine_identity has reset it.
	out, code, err := vm.Exec(`boot=$(tr -d - </proc/sys/kernel/random/boot_id)
journalctl --merge _BOOT_ID="$boot" _SYSTEMD_UNIT=ssh.service -o short-unix --no-pager >/run/bench-ssh.log
awk '/Server listening on/ { l = $1 } /Connection from/ { c = $1 } /Accepted publickey/ { print l, c, $1; exit }' /run/bench-ssh.log
cat /run/bench-ssh.log`, time.Minute)
	if err != nil || code != 0 {
		return 0, 0, fmt.Errorf("reading the guest journal: %v (exit %d) %s", err, code, out)
	}
	first, _, _ := strings.Cut(out, "\n")
	os.WriteFile(filepath.Join(dir, "ssh-journal.txt"), []byte(out), 0o644)
	f := strings.Fields(first)
	if len(f) != 3 {
		return 0, 0, fmt.Errorf("no sshd start, connection or login in the journal of this boot: %q", out)
	}
	var t [3]float64
	for i := range t {
		if t[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return 0, 0, fmt.Errorf("journal timestamps %q", out)
		}
	}
	return t[1] - t[0], t[2] - t[1], nil
}

// watchRSS polls every process whose name starts with prefix and returns a
// function that stops and gives the largest VmHWM (peak RSS, KiB) seen.
func watchRSS(prefix string) func() int {
	stop := make(chan struct{})
	var mu sync.Mutex
	peak := 0
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			dirs, _ := filepath.Glob("/proc/[0-9]*")
			for _, d := range dirs {
				cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
				argv0, _, _ := strings.Cut(string(cmdline), "\x00")
				if err != nil || !strings.HasPrefix(filepath.Base(argv0), prefix) {
					continue
				}
				if kb := vmHWM(filepath.Join(d, "status")); kb > 0 {
					mu.Lock()
					if kb > peak {
						peak = kb
					}
					mu.Unlock()
				}
			}
		}
	}()
	return func() int {
		close(stop)
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func vmHWM(status string) int {
	f, err := os.Open(status)
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) >= 2 && fields[0] == "VmHWM:" {
			n, _ := strconv.Atoi(fields[1])
			return n
		}
	}
	return 0
}

// p4 times the plugin's scanner or grep over the generated tree.
func (b *bench) p4(r int, side string) error {
	tree := filepath.Join(b.dir, "p4-tree")
	if _, err := os.Stat(tree); err != nil {
		fmt.Println("bench: generating 100000 files for P4")
		if err := generateTree(tree, 1000, 100); err != nil {
			return err
		}
	}
	var cmd *exec.Cmd
	if side == "plugin" {
		scripts, err := provisioner.StepScripts(map[string]interface{}{"steps": []string{"secret_scan"},
			"secret_scan": map[string]interface{}{"paths": []string{"/"}}})
		if err != nil {
			return err
		}
		path, err := writeScript(b.dir, "p4-scan.sh", scripts[0].Body)
		if err != nil {
			return err
		}
		cmd = exec.Command("sh", path)
		cmd.Env = append(os.Environ(), "AMIH_ROOT="+tree)
	} else {
		args := []string{"-rIlE"}
		for _, rule := range provisioner.SecretRules() {
			args = append(args, "-e", rule.Regex)
		}
		cmd = exec.Command("grep", append(args, tree)...)
	}
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start).Seconds()
	if err != nil && side == "plugin" {
		return fmt.Errorf("scan: %v", err)
	}
	found := strings.Count(string(out), "amih:finding")
	if side == "shell" {
		found = strings.Count(string(out), "\n")
	}
	if found != 100000/secretEvery {
		return fmt.Errorf("%s found %d files with secrets, want %d", side, found, 100000/secretEvery)
	}
	name := map[string]string{"plugin": "P4 plugin scanner (s)", "shell": "P4 grep -rIlE (s)"}[side]
	b.add(name, wall)
	return nil
}

// p9 times the audit's whole-image search over a tree shaped like an
// image's (generateImageTree), with the two files nobody cleans that the
// search must find, against one plain `find -xdev` of the tree; each the
// best of three runs (the page cache warm).
func (b *bench) p9(r int, side string) error {
	tree := filepath.Join(b.dir, "p9-tree")
	if _, err := os.Stat(tree); err != nil {
		fmt.Println("bench: generating an image-shaped tree of 100000 files for P9")
		if err := generateImageTree(tree); err != nil {
			return err
		}
	}
	if side == "shell" {
		var best float64
		for i := 0; i < 3; i++ {
			start := time.Now()
			if err := exec.Command("find", tree, "-xdev").Run(); err != nil {
				return fmt.Errorf("find: %v", err)
			}
			if wall := time.Since(start).Seconds(); i == 0 || wall < best {
				best = wall
			}
		}
		b.add("P9 find -xdev (s)", best)
		return nil
	}
	scripts, err := provisioner.StepScripts(map[string]interface{}{"steps": []string{"audit"}})
	if err != nil {
		return err
	}
	path, err := writeScript(b.dir, "p9-audit.sh", scripts[0].Body)
	if err != nil {
		return err
	}
	// The search's own time, from its info line (the guest's uptime at its
	// start and end); the best of three.
	took := regexp.MustCompile(`searched the whole image .* in ([0-9.]+) s`)
	var search float64
	for i := 0; i < 3; i++ {
		c := exec.Command("sh", path)
		c.Env = append(os.Environ(), "AMIH_ROOT="+tree)
		out, _ := c.Output() // the audit fails: it finds the two planted files
		for _, want := range []string{"/opt/x/.ssh/authorized_keys", "/srv/y/.bash_history"} {
			if !strings.Contains(string(out), want) {
				return fmt.Errorf("the audit's search did not find %s:\n%s", want, out)
			}
		}
		m := took.FindStringSubmatch(string(out))
		if m == nil {
			return fmt.Errorf("the audit did not say how long its search took:\n%s", out)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return err
		}
		if i == 0 || v < search {
			search = v
		}
	}
	b.add("P9 audit's search (s)", search)
	return nil
}

// p8 times clearing the free space of a fresh guest: the plugin's
// free_space step (zeros only, the swap left out: the same work as dd),
// timed by the report, or one dd of zeros into a file until the disk is
// full, then removed and synced, timed on the guest. Seconds per GiB
// written.
func (b *bench) p8(r int, side string) error {
	dir := filepath.Join(b.dir, fmt.Sprintf("p8-r%d-%s", r, side))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	key, err := e2e.NewKey(dir, "key")
	if err != nil {
		return err
	}
	overlay, err := e2e.NewOverlay(b.img, dir, "guest")
	if err != nil {
		return err
	}
	seed, err := e2e.NoCloudSeed(dir, "iid-bench", key)
	if err != nil {
		return err
	}
	vm, err := e2e.StartVM(b.img, dir, overlay, seed)
	if err != nil {
		return err
	}
	defer vm.Kill()
	tmpl := e2e.Template{SSHPort: vm.SSHPort, Key: key}
	if side == "plugin" {
		tmpl.Hygiene = `    steps = ["free_space"]
    report_path = "report.json"
    free_space {
      swap = false
    }`
	} else {
		tmpl.Hygiene = "-"
		// dd ends on "No space left on device" (its exit status 1): the
		// inline script runs under sh -e.
		tmpl.AfterDirty = []string{`s=$(date +%s.%N); dd if=/dev/zero of=/var/tmp/p8-fill bs=1048576 conv=fsync 2>/dev/null || true; n=$(stat -c %s /var/tmp/p8-fill); rm -f /var/tmp/p8-fill; sync; echo "p8-dd $n $s $(date +%s.%N)"`}
	}
	run := e2e.RunPacker(dir, tmpl.Render(), nil, 60*time.Minute)
	if run.Err != nil {
		return fmt.Errorf("packer build: %v\n%s", run.Err, e2e.TailLines(run.Output, 30))
	}
	var bytes, seconds float64
	if side == "plugin" {
		rep, err := e2e.ReadReport(filepath.Join(dir, "report.json"))
		if err != nil {
			return err
		}
		for _, st := range rep.Steps {
			if st.Name == "free_space" {
				// The free space it went over: read (sparse) or written
				// (the full fill, where sparse cannot work).
				bytes, seconds = float64(st.Counts["read_bytes"]), st.DurationSeconds
				if bytes == 0 {
					bytes = float64(st.Counts["zeroed_bytes"])
				}
			}
		}
	} else {
		var start, end float64
		for _, line := range strings.Split(run.Output, "\n") {
			if i := strings.Index(line, "p8-dd "); i >= 0 {
				fmt.Sscanf(line[i:], "p8-dd %f %f %f", &bytes, &start, &end)
			}
		}
		seconds = end - start
	}
	if bytes < 1<<28 || seconds <= 0 {
		return fmt.Errorf("%s: %0.f bytes in %.1f s: no measure", side, bytes, seconds)
	}
	name := map[string]string{"plugin": "P8 plugin free_space (s/GiB)", "shell": "P8 dd (s/GiB)"}[side]
	b.add(name, seconds/(bytes/(1<<30)))
	var st syscall.Stat_t
	if err := syscall.Stat(overlay, &st); err != nil {
		return err
	}
	b.add(map[string]string{"plugin": "P8 plugin overlay written (MiB)", "shell": "P8 dd overlay written (MiB)"}[side], float64(st.Blocks*512)/(1<<20))
	return nil
}

// secretEvery: one file in secretEvery holds a secret.
const secretEvery = 5000

// generateTree writes dirs*files small text files (deterministic content),
// one in secretEvery with an AWS key pair.
func generateTree(root string, dirs, files int) error {
	rng := rand.New(rand.NewSource(1))
	words := strings.Fields("the quick brown fox jumps over lazy dog config value server port user name path log level info debug error retry timeout")
	n := 0
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d/100), fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for f := 0; f < files; f++ {
			var sb strings.Builder
			for l := 0; l < 10+rng.Intn(40); l++ {
				for w := 0; w < 8; w++ {
					sb.WriteString(words[rng.Intn(len(words))])
					sb.WriteByte(' ')
				}
				sb.WriteByte('\n')
			}
			n++
			if n%secretEvery == 0 {
				sb.WriteString("aws_access_key_id = AKIABENCHBENCH000001\naws_secret_access_key = benchSecretBenchSecretBenchSecretBench000\n")
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.txt", f)), []byte(sb.String()), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// generateImageTree writes 100,000 empty files shaped like a Debian image's
// /usr (8 files a folder, three levels: 12,500 folders), one folder in 7
// with a dot file that counts for nothing (.keep), the homes of root and
// admin (a .ssh with known_hosts, a .config), and the two files nobody
// cleans that the audit's search must find: /opt/x/.ssh/authorized_keys
// with a key and /srv/y/.bash_history.
func generateImageTree(root string) error {
	n := 0
	for a := 0; a < 25; a++ {
		for b := 0; b < 25; b++ {
			for c := 0; c < 20; c++ {
				dir := filepath.Join(root, "usr", fmt.Sprintf("lib%02d", a), fmt.Sprintf("pkg%02d", b), fmt.Sprintf("mod%02d", c))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return err
				}
				names := []string{"__init__.py", "core.py", "util.so", "data.json", "README", "LICENSE", "conf.d", "index.html"}
				if n%7 == 0 {
					names[7] = ".keep"
				}
				for _, name := range names {
					if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
						return err
					}
				}
				n++
			}
		}
	}
	for path, content := range map[string]string{
		"etc/passwd":                  "root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\n",
		"root/.ssh/known_hosts":       "",
		"home/admin/.ssh/known_hosts": "",
		"home/admin/.config/app.conf": "",
		"opt/x/.ssh/authorized_keys":  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBenchBen bench\n",
		"srv/y/.bash_history":         "ls\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, path)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(root, path), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// targets are the goals, by the paired metric they judge.
var targets = map[string]string{
	"P1 ratio plugin/shell":            "<= 0.85",
	"P2 ratio plugin/shell":            "<= 1.15",
	"P3 plugin (s)":                    "<= 1",
	"P4 ratio plugin/grep":             "<= 1.3",
	"P5 plugin peak RSS (MiB)":         "<= 64",
	"P6 ratio two-source/single":       "<= 1.2",
	"P7 plugin overhead per build (s)": "<= 3",
	"P8 ratio plugin/dd":               "<= 0.5",
	"P9 ratio search/find":             "<= 1.3",
}

// table renders median, min and max of every metric, the paired ratios
// included, with the machine it ran on.
func (b *bench) table(rounds int, took time.Duration) string {
	pairs := [][3]string{
		{"P1 ratio plugin/shell", "P1 plugin build (s)", "P1 shell build (s)"},
		{"P2 ratio plugin/shell", "P2 plugin build (s)", "P2 shell build (s)"},
		{"P4 ratio plugin/grep", "P4 plugin scanner (s)", "P4 grep -rIlE (s)"},
		{"P6 ratio two-source/single", "P6 two-source build (s)", "P6 single-source build, slower (s)"},
		{"P8 ratio plugin/dd", "P8 plugin free_space (s/GiB)", "P8 dd (s/GiB)"},
		{"P9 ratio search/find", "P9 audit's search (s)", "P9 find -xdev (s)"},
	}
	for _, p := range pairs {
		x, y := b.samples[p[1]], b.samples[p[2]]
		for i := 0; i < len(x) && i < len(y); i++ {
			b.samples[p[0]] = append(b.samples[p[0]], x[i]/y[i])
		}
	}
	var names []string
	for name := range b.samples {
		names = append(names, name)
	}
	sort.Strings(names)
	var t strings.Builder
	fmt.Fprintf(&t, "# make bench: %s, %d round(s) in %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), rounds, took.Round(time.Second))
	fmt.Fprintf(&t, "machine: %s\n\n", machine())
	fmt.Fprintf(&t, "| metric | median | min | max | n | target |\n|---|---:|---:|---:|---:|---|\n")
	for _, name := range names {
		v := append([]float64(nil), b.samples[name]...)
		sort.Float64s(v)
		med := v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		fmt.Fprintf(&t, "| %s | %.3f | %.3f | %.3f | %d | %s |\n", name, med, v[0], v[len(v)-1], len(v), targets[name])
	}
	return t.String()
}

func machine() string {
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	accel := "QEMU TCG (no KVM)"
	if os.Getenv("AMIH_E2E_KVM") == "1" {
		accel = "QEMU KVM"
	}
	return fmt.Sprintf("%d CPUs (%s), %s, guest Debian %s with 2 vCPUs and 2 GiB, %s", runtime.NumCPU(), cpu, accel, e2e.DebianVersion[e2e.Suite()], runtime.Version())
}
