//go:build release

// Package release checks what `make release-snapshot` made in dist/: the
// layout `packer init` installs from a GitHub release. Run it through that
// target (build tag "release"); it needs dist/ and the pinned Packer.
package release

import (
	"archive/zip"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/ami-hygiene/packer-plugin-ami-hygiene/test/testenv"
)

// platforms are the OS/arch pairs .goreleaser.yml builds.
var platforms = []string{"darwin_amd64", "darwin_arm64", "freebsd_amd64", "freebsd_arm64",
	"linux_amd64", "linux_arm64", "windows_amd64", "windows_arm64"}

// describe is the plugin's own answer to `describe`.
type describe struct {
	Version    string `json:"version"`
	APIVersion string `json:"api_version"`
}

func TestSnapshotLayout(t *testing.T) {
	dist := filepath.Join(testenv.RepoRoot(), "dist")
	out, err := exec.Command(filepath.Join(testenv.RepoRoot(), "packer-plugin-ami-hygiene"), "describe").Output()
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	var d describe
	if err := json.Unmarshal(out, &d); err != nil || d.Version == "" || d.APIVersion == "" {
		t.Fatalf("describe %q: %v", out, err)
	}
	prefix := "packer-plugin-ami-hygiene_v" + d.Version + "_" + d.APIVersion + "_"

	// One zip per OS/arch, named for `packer init`, each holding the binary
	// of the same name (with .exe on Windows), and nothing else.
	zips, _ := filepath.Glob(filepath.Join(dist, "*.zip"))
	var names []string
	for _, z := range zips {
		names = append(names, filepath.Base(z))
	}
	sort.Strings(names)
	var want []string
	for _, p := range platforms {
		want = append(want, prefix+p+".zip")
	}
	if strings.Join(names, "\n") != strings.Join(want, "\n") {
		t.Fatalf("zips in dist/:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	for _, z := range zips {
		r, err := zip.OpenReader(z)
		if err != nil {
			t.Fatal(err)
		}
		bin := strings.TrimSuffix(filepath.Base(z), ".zip")
		if strings.Contains(bin, "_windows_") {
			bin += ".exe"
		}
		if len(r.File) != 1 || r.File[0].Name != bin {
			var got []string
			for _, f := range r.File {
				got = append(got, f.Name)
			}
			t.Errorf("%s holds %v, want only %s", filepath.Base(z), got, bin)
		}
		r.Close()
	}

	// SHA256SUMS lists every zip with its true checksum.
	sums, err := os.Open(filepath.Join(dist, "packer-plugin-ami-hygiene_v"+d.Version+"_SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	listed := map[string]string{}
	line := regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)
	sc := bufio.NewScanner(sums)
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			t.Errorf("SHA256SUMS line %q", sc.Text())
			continue
		}
		listed[m[2]] = m[1]
	}
	for _, name := range names {
		f, err := os.Open(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if got := hex.EncodeToString(h.Sum(nil)); listed[name] != got {
			t.Errorf("SHA256SUMS says %q for %s, its checksum is %s", listed[name], name, got)
		}
	}
	if len(listed) != len(names) {
		t.Errorf("SHA256SUMS lists %d files, dist/ has %d zips", len(listed), len(names))
	}

	// The linux/amd64 binary, out of its zip, is what the pinned Packer
	// installs (into a fresh plugin folder) and validates the examples with.
	work := t.TempDir()
	r, err := zip.OpenReader(filepath.Join(dist, prefix+"linux_amd64.zip"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(work, r.File[0].Name)
	rc, _ := r.File[0].Open()
	data, _ := io.ReadAll(rc)
	rc.Close()
	r.Close()
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	plugins := filepath.Join(work, "plugins")
	env := append(os.Environ(), "PACKER_PLUGIN_PATH="+plugins, "CHECKPOINT_DISABLE=1")
	packer := testenv.Packer()
	run := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(packer, args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("packer %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run(work, "plugins", "install", "--path", bin, "github.com/ami-hygiene/ami-hygiene")
	if out := run(work, "plugins", "installed"); !strings.Contains(out, "packer-plugin-ami-hygiene_v"+d.Version+"_"+d.APIVersion+"_linux_amd64") {
		t.Errorf("packer plugins installed:\n%s", out)
	}
	key := testenv.SSHKey(t, work)
	out2 := run(filepath.Join(testenv.RepoRoot(), "example", "local"), "validate", "-var", "ssh_port=2222", "-var", "ssh_private_key_file="+key, "demo.pkr.hcl")
	if !strings.Contains(out2, "The configuration is valid") {
		t.Errorf("packer validate with the released binary:\n%s", out2)
	}
}
