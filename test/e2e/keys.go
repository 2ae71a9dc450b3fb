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

// NoCloudSeed makes a NoCloud seed image that gives the default user the key;
// userData adds cloud-config lines of the test's own.
//
// The seed also says how to network: DHCPv4 on the NIC. Without it,
// cloud-init's fallback on Debian 13 (cloud-init 25) also writes `iface ens2
// inet6 dhcp`, and on QEMU's user network, which has no DHCPv6 server,
// dhclient -6 holds networking.service for its whole 5-minute start timeout.
func NoCloudSeed(dir, instanceID string, key *Key, userData ...string) (string, error) {
	pub, err := os.ReadFile(key.Public)
	if err != nil {
		return "", err
	}
	meta := filepath.Join(dir, instanceID+"-meta-data")
	user := filepath.Join(dir, instanceID+"-user-data")
	network := filepath.Join(dir, instanceID+"-network-config")
	seed := filepath.Join(dir, instanceID+"-seed.img")
	if err := os.WriteFile(meta, []byte("instance-id: "+instanceID+"\nlocal-hostname: guest\n"), 0o644); err != nil {
		return "", err
	}
	config := "#cloud-config\nssh_pwauth: false\nssh_authorized_keys:\n  - " + strings.TrimSpace(string(pub)) + "\n" + strings.Join(userData, "")
	if err := os.WriteFile(user, []byte(config), 0o644); err != nil {
		return "", err
	}
	// The NIC by its name (virtio-net-pci in slot 2, net.ifnames=1): the
	// eni renderer of Debian's cloud-init cannot render a `match:` glob.
	netcfg := "version: 2\nethernets:\n  ens2:\n    dhcp4: true\n"
	if err := os.WriteFile(network, []byte(netcfg), 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("cloud-localds", "-N", network, seed, user, meta).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cloud-localds: %v: %s", err, out)
	}
	return seed, nil
}
