//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/testenv"
)

// packerBinary is the pinned Packer (make sets AMIH_PACKER).
var packerBinary = testenv.Packer

// Template is a null-builder template that reaches a VM over SSH, runs the
// dirty fixture, then the given ami-hygiene block (empty: no ami-hygiene
// provisioner at all).
type Template struct {
	SSHPort int
	Key     *Key
	Dirty   bool
	// AfterDirty are shell commands run as root after the fixture, before
	// ami-hygiene.
	AfterDirty []string
	// Scripts are local shell scripts run as root after those, before
	// ami-hygiene (Packer uploads them: they may be large).
	Scripts []string
	// BeforeHygiene are provisioner blocks (HCL) after those, before
	// ami-hygiene.
	BeforeHygiene string
	Hygiene       string // the body of provisioner "ami-hygiene" { ... }, or "-" for none
	// Provisioners are more provisioner blocks (HCL), after ami-hygiene.
	Provisioners string
}

// Render writes the template.
func (t Template) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, `packer {
  required_plugins {
    ami-hygiene = {
      version = ">= 0.0.1"
      source  = "github.com/ami-hygiene/ami-hygiene"
    }
  }
}

source "null" "guest" {
  ssh_host             = "127.0.0.1"
  ssh_port             = %d
  ssh_username         = "admin"
  ssh_private_key_file = %q
  ssh_timeout          = "20m"
  ssh_read_write_timeout = "5m"
}

build {
  sources = ["source.null.guest"]
`, t.SSHPort, t.Key.Private)
	if t.Dirty {
		fmt.Fprintf(&b, `
  provisioner "shell" {
    script          = %q
    execute_command = "sudo -n sh -c '{{ .Vars }} {{ .Path }}'"
  }
`, filepath.Join(repoRoot(), "test", "e2e", "testdata", "dirty.sh"))
	}
	if len(t.AfterDirty) > 0 {
		fmt.Fprintf(&b, "\n  provisioner \"shell\" {\n    execute_command = \"sudo -n sh -c '{{ .Vars }} {{ .Path }}'\"\n    inline = [\n")
		for _, c := range t.AfterDirty {
			fmt.Fprintf(&b, "      %q,\n", c)
		}
		b.WriteString("    ]\n  }\n")
	}
	if len(t.Scripts) > 0 {
		fmt.Fprintf(&b, "\n  provisioner \"shell\" {\n    execute_command = \"sudo -n sh -c '{{ .Vars }} {{ .Path }}'\"\n    scripts = [\n")
		for _, s := range t.Scripts {
			fmt.Fprintf(&b, "      %q,\n", s)
		}
		b.WriteString("    ]\n  }\n")
	}
	b.WriteString(t.BeforeHygiene)
	if t.Hygiene != "-" {
		fmt.Fprintf(&b, "\n  provisioner \"ami-hygiene\" {\n%s\n  }\n", t.Hygiene)
	}
	b.WriteString(t.Provisioners)
	b.WriteString("}\n")
	return b.String()
}

// PackerRun is the outcome of one `packer build`.
type PackerRun struct {
	Dir    string
	Output string
	Log    string
	Err    error
}

// RunPacker writes the template into dir and runs the pinned `packer build`
// there, with the isolated plugin folder the Makefile installed into.
func RunPacker(dir string, tmpl string, out io.Writer, timeout time.Duration) PackerRun {
	path := filepath.Join(dir, "template.pkr.hcl")
	if err := os.WriteFile(path, []byte(tmpl), 0o644); err != nil {
		return PackerRun{Dir: dir, Err: err}
	}
	return RunPackerArgs(dir, []string{"build", "-color=false", path}, nil, out, timeout)
}

// RunPackerArgs runs the pinned Packer with the arguments in dir, with the
// isolated plugin folder the Makefile installed into and env added to the
// environment; PACKER_LOG=1 goes to dir/packer.log.
func RunPackerArgs(dir string, args, env []string, out io.Writer, timeout time.Duration) PackerRun {
	run := PackerRun{Dir: dir, Log: filepath.Join(dir, "packer.log")}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, packerBinary(), args...)
	cmd.Dir = dir
	cmd.Env = append(append(testenv.Env(), "PACKER_LOG=1", "PACKER_LOG_PATH="+run.Log), env...)
	var buf strings.Builder
	w := io.Writer(&buf)
	if out != nil {
		w = io.MultiWriter(&buf, out)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// Packer re-executes itself (panicwrap): give it a process group of its
	// own, so that a timeout or an interrupt ends the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if run.Err = cmd.Start(); run.Err == nil {
		forget := track(cmd)
		run.Err = cmd.Wait()
		forget()
	}
	run.Output = buf.String()
	return run
}
