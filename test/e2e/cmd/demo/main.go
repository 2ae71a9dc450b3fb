//go:build e2e

// Command demo is `make demo`: it boots a local Debian VM (QEMU), runs
// example/local/demo.pkr.hcl against it with the pinned Packer — the dirty
// fixture, then the whole checklist — and prints Packer's output and the
// plugin's report.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/e2e"
	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		e2e.KillAll()
		os.Exit(1)
	}
}

func run() error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { <-sigs; e2e.KillAll(); os.Exit(130) }()

	root, err := os.Getwd()
	if err != nil {
		return err
	}
	img, err := e2e.EnsureImage(os.Stdout, e2e.Suite())
	if err != nil {
		return err
	}
	dir := filepath.Join(root, "test", "e2e", ".work", "demo-"+time.Now().Format("150405"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	key, err := e2e.NewKey(dir, "build-key")
	if err != nil {
		return err
	}
	overlay, err := e2e.NewOverlay(img, dir, "demo")
	if err != nil {
		return err
	}
	seed, err := e2e.NoCloudSeed(dir, "iid-demo", key)
	if err != nil {
		return err
	}
	vm, err := e2e.StartVM(img, dir, overlay, seed)
	if err != nil {
		return err
	}
	defer vm.Shutdown(2 * time.Minute)
	fmt.Printf("demo: VM booting (QEMU, serial console in %s); Packer waits for its SSH on 127.0.0.1:%d\n", vm.Serial, vm.SSHPort)

	packer := testenv.Packer()
	report := filepath.Join(dir, "ami-hygiene-report.json")
	cmd := exec.Command(packer, "build", "-color=false",
		"-var", "ssh_port="+strconv.Itoa(vm.SSHPort),
		"-var", "ssh_private_key_file="+key.Private,
		"-var", "dirty_script="+filepath.Join(root, "test", "e2e", "testdata", "dirty.sh"),
		"demo.pkr.hcl")
	cmd.Dir = filepath.Join(root, "example", "local")
	cmd.Env = testenv.Env()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	buildErr := cmd.Run()
	// The template writes its report next to itself: keep it with the run.
	if err := os.Rename(filepath.Join(cmd.Dir, "ami-hygiene-report.json"), report); err == nil {
		data, _ := os.ReadFile(report)
		fmt.Printf("\n==== the plugin's report (%s) ====\n%s\n", report, data)
	}
	if buildErr != nil {
		fmt.Printf("---- serial console (tail) ----\n%s\n", vm.SerialTail(30))
		return fmt.Errorf("packer build: %w", buildErr)
	}
	return nil
}
