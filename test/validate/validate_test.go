// Package validate runs the pinned `packer validate` on the examples and on
// templates with bad input, with the plugin installed by `make dev` (and the
// amazon plugin by `make tools`). It needs no VM; `make test` sets AMIH_PACKER
// and PACKER_PLUGIN_PATH.
package validate

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/testenv"
)

var repoRoot = testenv.RepoRoot

func packerBinary(t *testing.T) string {
	p := testenv.Packer()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the pinned Packer is missing (%v): run `make tools dev`, or `make test`, which does it", err)
	}
	return p
}

func validate(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(packerBinary(t), append([]string{"validate"}, args...)...)
	cmd.Dir = dir
	cmd.Env = testenv.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestExamplesValidate(t *testing.T) {
	key := testenv.SSHKey(t, t.TempDir())
	for _, tc := range []struct {
		dir  string
		args []string
	}{
		{"example", []string{"amazon-ebs.pkr.hcl"}},
		// The legacy JSON form: each block an object, verify a list.
		{"example/legacy", []string{"amazon-ebs.json"}},
		// Its HCL twin: what `packer hcl2_upgrade` should have produced.
		{"example/legacy", []string{"amazon-ebs.pkr.hcl"}},
		{"example/local", []string{"-var", "ssh_port=2222", "-var", "ssh_private_key_file=" + key, "demo.pkr.hcl"}},
	} {
		out, err := validate(t, filepath.Join(repoRoot(), tc.dir), tc.args...)
		if err != nil || !strings.Contains(out, "The configuration is valid") {
			t.Errorf("%s %v: %v\n%s", tc.dir, tc.args, err, out)
		}
	}
}

const header = `packer {
  required_plugins {
    ami-hygiene = {
      version = ">= 0.0.1"
      source  = "github.com/ami-hygiene/ami-hygiene"
    }
  }
}
source "null" "x" { communicator = "none" }
build {
  sources = ["source.null.x"]
  provisioner "ami-hygiene" {
`

// TestBadInputFailsValidate: each bad block fails `packer validate` with a
// message naming the attribute.
func TestBadInputFailsValidate(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"valid", `stop_services { services = ["nginx"] }`, []string{"The configuration is valid"}},
		{"unknown attribute", `colour = "blue"`, []string{`An argument named "colour" is not expected here`}},
		{"unknown block", `cleanup {}`, []string{`Blocks of type "cleanup" are not expected here`}},
		{"unknown nested attribute", `mail_queue { flush = "5m" }`, []string{`An argument named "flush" is not expected here`}},
		{"wrong type", `dry_run = "maybe"`, []string{"dry_run", "bool"}},
		{"unknown step", `steps = ["wait_for_boot", "defrag"]`, []string{`steps[1]: unknown step "defrag"`}},
		{"steps and skip_steps", `
    steps = ["verify"]
    skip_steps = ["credentials"]`, []string{"skip_steps: cannot be combined with steps"}},
		{"bad duration", `wait_for_boot { boot_timeout = "a while" }`, []string{`wait_for_boot.boot_timeout: "a while" is not a duration`}},
		{"bad regex", `
    verify {
      command = "true"
      expect_output = "(unclosed"
    }`, []string{"verify[0].expect_output", "not a valid RE2"}},
		{"service injection", `stop_services { services = ["nginx; reboot"] }`, []string{`stop_services.services[0]: "nginx; reboot" is not a service name`}},
		{"odd path", `credentials { paths = ["/srv/../etc/shadow"] }`, []string{"credentials.paths[0]", "not a clean path"}},
		{"match-all history pattern", `shell_history { extra_patterns = ["[!.]*"] }`, []string{"shell_history.extra_patterns[0]", "does not name a file"}},
		{"cloud-init errors", `wait_for_boot { cloud_init_errors = "ignore" }`, []string{`wait_for_boot.cloud_init_errors: "ignore" is not allowed`}},
		{"wait of zero", `update_packages { reboot_timeout = "0s" }`, []string{"update_packages.reboot_timeout: must be more than 0s"}},
		{"step timeouts", `step_timeouts = { update_packages = "2h", defrag = "1m" }`, []string{`step_timeouts: unknown step "defrag"`}},
		{"all problems at once", `
    update_packages { reboot = "whenever" }
    mail_queue { on_timeout = "ignore" }
    authorized_keys { keep_users = ["root; id"] }`, []string{"update_packages.reboot", "mail_queue.on_timeout", "authorized_keys.keep_users[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(header+tc.body+"\n  }\n}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := validate(t, dir, "t.pkr.hcl")
			if (err == nil) != (tc.name == "valid") {
				t.Errorf("exit: %v\n%s", err, out)
			}
			flat := strings.Join(strings.Fields(out), " ")
			for _, w := range tc.want {
				if !strings.Contains(flat, w) {
					t.Errorf("output does not contain %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestDocsExampleValidates: the whole template shown in the docs, and the
// README's quick start (issue 36), are valid.
func TestDocsExampleValidates(t *testing.T) {
	for _, doc := range []string{"docs/provisioners/ami-hygiene.mdx", "README.md"} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), doc))
		if err != nil {
			t.Fatal(err)
		}
		var tmpl string
		for _, block := range strings.Split(string(data), "```hcl\n")[1:] {
			block = block[:strings.Index(block, "```")]
			if strings.Contains(block, "required_plugins") && strings.Contains(block, "build {") {
				tmpl = block
				break
			}
		}
		if tmpl == "" {
			t.Errorf("no whole template in %s", doc)
			continue
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "docs.pkr.hcl"), []byte(tmpl), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := validate(t, dir, "docs.pkr.hcl"); err != nil || !strings.Contains(out, "The configuration is valid") {
			t.Errorf("the template of %s does not validate: %v\n%s", doc, err, out)
		}
	}
}

// TestExamplesNameThePluginAndKeepTheCostAdvice (issue 36): every example
// template names the plugin in required_plugins (so `packer init` installs
// it), and none sets free_space's full-fill modes, which the docs advise
// against on EBS (the snapshot grows by the whole free space).
func TestExamplesNameThePluginAndKeepTheCostAdvice(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(repoRoot(), "example", "*", "*.pkr.hcl"))
	top, _ := filepath.Glob(filepath.Join(repoRoot(), "example", "*.pkr.hcl"))
	paths = append(paths, top...)
	if len(paths) < 3 {
		t.Fatalf("only %d example templates: %v", len(paths), paths)
	}
	fullFill := regexp.MustCompile(`mode\s*=\s*"(zero|both)"|"mode":\s*"(zero|both)"`)
	json, _ := filepath.Glob(filepath.Join(repoRoot(), "example", "*", "*.json"))
	for _, p := range append(paths, json...) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		if strings.HasSuffix(p, ".hcl") && !regexp.MustCompile(`(?s)required_plugins\s*\{.*ami-hygiene = \{\s*[^}]*source\s*=\s*"github.com/ami-hygiene/ami-hygiene"`).MatchString(text) {
			t.Errorf("%s does not name the plugin in required_plugins", p)
		}
		if fullFill.MatchString(text) {
			t.Errorf("%s sets a full-fill free_space mode", p)
		}
	}
}

// TestHCL2UpgradeOfTheLegacyExample (issue 36): `packer hcl2_upgrade` of
// the legacy JSON example writes the step blocks that hold only plain
// values as attributes (`free_space = { ... }`, which the plugin refuses)
// and leaves the plugin out of required_plugins; with the two edits the
// docs give (drop the `=`, add the plugin) the result validates, and its
// ami-hygiene block is the HCL twin's (example/legacy/amazon-ebs.pkr.hcl).
func TestHCL2UpgradeOfTheLegacyExample(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "example", "legacy", "amazon-ebs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(packerBinary(t), "hcl2_upgrade", "-output-file=up.pkr.hcl", "t.json")
	cmd.Dir = dir
	cmd.Env = testenv.Env()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hcl2_upgrade: %v\n%s", err, out)
	}
	up, err := os.ReadFile(filepath.Join(dir, "up.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := validate(t, dir, "up.pkr.hcl"); err == nil {
		t.Logf("hcl2_upgrade's own output validates now: the docs' note may be dropped\n%s", out)
	}
	// The docs' two edits: in the ami-hygiene block, `name = {` becomes
	// `name {`; the plugin joins required_plugins.
	block := provisionerBlock(string(up))
	if block == "" {
		t.Fatalf("no ami-hygiene block in the upgrade:\n%s", up)
	}
	blocks := regexp.MustCompile(`(?m)^(\s+[a-z_]+) = \{$`).ReplaceAllString(block, "$1 {")
	fixed := strings.Replace(string(up), block, blocks, 1)
	fixed = strings.Replace(fixed, "  required_plugins {\n", "  required_plugins {\n    ami-hygiene = {\n      source  = \"github.com/ami-hygiene/ami-hygiene\"\n      version = \">= 0.1.0\"\n    }\n", 1)
	if err := os.WriteFile(filepath.Join(dir, "up.pkr.hcl"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := validate(t, dir, "up.pkr.hcl"); err != nil || !strings.Contains(out, "The configuration is valid") {
		t.Errorf("the upgraded template with the docs' edits does not validate: %v\n%s\n%s", err, out, fixed)
	}
	twin, err := os.ReadFile(filepath.Join(repoRoot(), "example", "legacy", "amazon-ebs.pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := provisionerBlock(fixed), provisionerBlock(string(twin)); a == "" || a != b {
		t.Errorf("the HCL twin's ami-hygiene block is not the upgrade's with the docs' edits:\n%s\n---\n%s", b, a)
	}
}

// provisionerBlock is the text of the template's ami-hygiene provisioner
// block, "" without one.
func provisionerBlock(tmpl string) string {
	i := strings.Index(tmpl, `provisioner "ami-hygiene" {`)
	if i < 0 {
		return ""
	}
	j := strings.Index(tmpl[i:], "\n  }\n")
	if j < 0 {
		return ""
	}
	return tmpl[i : i+j]
}

// TestNoneCommunicatorIsNeverClean: `packer build` with the none
// communicator (which runs nothing and says it succeeded) fails, and its
// report says failed, not clean; its JUnit file, read by a JUnit reader,
// holds one failing case that says why (issue 36: it said tests="0"
// failures="0"), and Packer's output names both files.
func TestNoneCommunicatorIsNeverClean(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "t.pkr.hcl"), []byte(header+"    report_path = \"r.json\"\n    junit_path = \"j.xml\"\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(packerBinary(t), "build", "t.pkr.hcl")
	cmd.Dir = dir
	cmd.Env = testenv.Env()
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), `communicator "none"`) {
		t.Errorf("the build did not fail naming the none communicator: %v\n%s", err, out)
	}
	data, rerr := os.ReadFile(filepath.Join(dir, "r.json"))
	if rerr != nil {
		t.Fatalf("no report: %v\n%s", rerr, out)
	}
	var rep struct{ Status, Verdict string }
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Status != "failed" || rep.Verdict == "clean" {
		t.Errorf("report status %q, verdict %q", rep.Status, rep.Verdict)
	}
	if !strings.Contains(string(out), "report written to r.json, JUnit to j.xml") {
		t.Errorf("Packer's output does not name both report files:\n%s", out)
	}
	xmlData, err := os.ReadFile(filepath.Join(dir, "j.xml"))
	if err != nil {
		t.Fatalf("no JUnit file: %v", err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(xmlData, &suites); err != nil {
		t.Fatalf("JUnit file: %v\n%s", err, xmlData)
	}
	var failing []string
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			if c.Failure != nil {
				failing = append(failing, c.Name+": "+c.Failure.Message)
			}
		}
	}
	if suites.Failures != 1 || len(failing) != 1 || !strings.Contains(failing[0], `communicator "none"`) {
		t.Errorf("JUnit: tests %d, failures %d, failing cases %q; want one naming the none communicator\n%s", suites.Tests, suites.Failures, failing, xmlData)
	}
}

// TestLegacyJSONBadInput: a legacy JSON template with bad input fails
// `packer validate` naming the attribute, as an HCL one does.
func TestLegacyJSONBadInput(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(), "example", "legacy", "amazon-ebs.json"))
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), `"mode": "sparse"`, `"mode": "shred"`, 1)
	if bad == string(data) {
		t.Fatal("the example has no free_space mode to break")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bad.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := validate(t, dir, "bad.json")
	if err == nil || !strings.Contains(out, `free_space.mode: "shred" is not allowed`) {
		t.Errorf("packer validate of a bad JSON template: %v\n%s", err, out)
	}
}

// TestWorkflowsRunEveryTestAsRoot (issue 36, item 13): the pull-request
// workflow runs every package's tests (cmd/ included) with the race
// detector as root, and the release workflow its unit tests as root, so
// that no destructive test skips there.
func TestWorkflowsRunEveryTestAsRoot(t *testing.T) {
	for file, want := range map[string][]string{
		"test.yml":    {"sudo ", "go test -race", " ./..."},
		"release.yml": {"sudo ", "go test -race", "./cmd/...", "./provisioner/..."},
	} {
		data, err := os.ReadFile(filepath.Join(repoRoot(), ".github", "workflows", file))
		if err != nil {
			t.Fatal(err)
		}
		var line string
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "go test -race") {
				line = l
			}
		}
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: the test line %q lacks %q", file, line, w)
			}
		}
		// The btrfs loop-image tests need mkfs.btrfs.
		if !strings.Contains(string(data), "btrfs-progs") {
			t.Errorf("%s does not install btrfs-progs", file)
		}
	}
}
