// Package testenv locates what the integration tests run: the repository and
// the pinned Packer with its isolated plugin folder.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot is the repository's top folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Packer is the Packer binary the tests use: AMIH_PACKER (set by make), or
// the pinned one that `make tools` builds.
func Packer() string {
	if p := os.Getenv("AMIH_PACKER"); p != "" {
		return p
	}
	return filepath.Join(RepoRoot(), ".tools", "bin", "packer")
}

// Env is the environment for running Packer in tests: no call home, and the
// isolated plugin folder unless PACKER_PLUGIN_PATH is set.
func Env() []string {
	env := append(os.Environ(), "CHECKPOINT_DISABLE=1")
	if os.Getenv("PACKER_PLUGIN_PATH") == "" {
		env = append(env, "PACKER_PLUGIN_PATH="+filepath.Join(RepoRoot(), ".tools", "plugins"))
	}
	return env
}

// SSHKey makes an ed25519 key pair without a passphrase in dir and returns
// the private key's path (the public key is next to it, .pub).
func SSHKey(t testing.TB, dir string) string {
	t.Helper()
	key := filepath.Join(dir, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	return key
}
