//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// SSH keys and the NoCloud seed that hands a guest its launch key.

// Key is an SSH key pair on disk.
type Key struct{ Private, Public string }

// NewKey makes an ed25519 key pair in dir.
func NewKey(dir, name string) (*Key, error) {
	k := &Key{Private: filepath.Join(dir, name)}
	k.Public = k.Private + ".pub"
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", k.Private).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	return k, nil
}

// NoCloudSeed makes a NoCloud seed image that gives the default user the key.
func NoCloudSeed(dir, instanceID string, key *Key) (string, error) {
	pub, err := os.ReadFile(key.Public)
	if err != nil {
		return "", err
	}
	meta := filepath.Join(dir, instanceID+"-meta-data")
	user := filepath.Join(dir, instanceID+"-user-data")
	seed := filepath.Join(dir, instanceID+"-seed.img")
	if err := os.WriteFile(meta, []byte("instance-id: "+instanceID+"\nlocal-hostname: guest\n"), 0o644); err != nil {
		return "", err
	}
	userData := "#cloud-config\nssh_pwauth: false\nssh_authorized_keys:\n  - " + strings.TrimSpace(string(pub)) + "\n"
	if err := os.WriteFile(user, []byte(userData), 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("cloud-localds", seed, user, meta).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cloud-localds: %v: %s", err, out)
	}
	return seed, nil
}
