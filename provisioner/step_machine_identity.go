//go:generate go tool packer-sdc mapstructure-to-hcl2 -type MachineIdentity
//go:generate go tool packer-sdc struct-markdown

package provisioner

import "github.com/hashicorp/packer-plugin-sdk/template/config"

// MachineIdentity configures the `machine_identity` step: make every instance
// launched from the image a machine of its own. It empties `/etc/machine-id`
// (each instance makes its own id at boot, and that boot is not a systemd
// "first boot", so the unit states the build set are kept) and truncates the
// D-Bus copy; removes systemd's
// `random-seed` and `credential.secret`, the DHCP leases of dhclient, dhcpcd,
// NetworkManager and wicked, udev's persistent network rules, the build's
// MAC address in NetworkManager profiles and ifcfg files (with ifcfg's
// `UUID`), cloud-init's generated network configuration (when the next
// instance's cloud-init writes its own) and RPM's `__db.*` files; runs
// `cloud-init clean --logs --seed` so that the next instance runs cloud-init
// again and gets its own launch key; and removes the SSH host keys, but only
// after proving that something generates new ones at boot: cloud-init's
// `ssh` module (with `ssh_genkeytypes` not emptied, and cloud-init not
// disabled by `/etc/cloud/cloud-init.disabled`, `cloud-init=disabled` on the
// kernel command line or a masked `cloud-init.service`), an `sshd-keygen`
// unit that is not masked (Fedora, RHEL, Amazon Linux), `ssh-keygen` or
// openSUSE's `sshd-gen-keys-start` in the ssh service, or Alpine's OpenRC
// `sshd` script (unless `/etc/conf.d/sshd` sets `sshd_disable_keygen`).
// When nothing would, the step fails instead of making an image that nobody
// can reach.
//
// The running build keeps its identity in memory and its SSH connection;
// the new identity is made at the next boot, i.e. in each instance.
type MachineIdentity struct {
	// Remove the SSH host keys (`/etc/ssh/ssh_host_*`). Default `true`: AWS
	// makes public AMIs that carry host keys private, and clones sharing
	// host keys can impersonate each other.
	RemoveHostKeys config.Trilean `mapstructure:"remove_host_keys"`
	// When nothing on the image would generate host keys at boot, install
	// and enable a first-boot systemd unit (`ami-hygiene-ssh-host-keys.service`,
	// `ssh-keygen -A` before sshd starts, only while no host key exists)
	// instead of failing. Default `false`.
	EnsureHostKeys bool `mapstructure:"ensure_host_keys"`
	// Run `cloud-init clean --logs --seed` when cloud-init is installed.
	// Default `true`.
	CloudInitClean config.Trilean `mapstructure:"cloud_init_clean"`
	// Write `localhost` into `/etc/hostname`, so that each instance takes
	// the name its cloud or DHCP gives it, and remove the build's name from
	// `/etc/hosts` (Debian's `127.0.1.1 <hostname>` line); the running build
	// is named `localhost` too (its old name no longer resolves). Default `false`: images for
	// fixed hosts may mean to keep theirs, and cloud-init sets the hostname
	// of cloud instances anyway.
	ResetHostname bool `mapstructure:"reset_hostname"`
	// Write `uninitialized` into `/etc/machine-id` instead of emptying it, so
	// that each instance's first boot is a systemd "first boot" (systemd 247
	// and later): units with `ConditionFirstBoot=yes` run, and the unit
	// presets are applied again, which re-enables every unit the build
	// disabled that a preset enables (`systemctl disable`, `stop_services {
	// disable = true }`). Default `false`: an empty file, which gives each
	// instance a new machine id without a first boot (machine-id(5)).
	FirstBoot bool `mapstructure:"first_boot"`
}

var machineIdentityStep = stepDef{
	Name:    "machine_identity",
	Title:   "reset the machine's identity",
	Summary: "resets what must differ per instance: machine-id, random seed, DHCP leases, cloud-init state, SSH host keys (only when something regenerates them at boot)",
	Secrets: true,
	Touches: []string{
		"/etc/machine-id (emptied; `uninitialized` with `first_boot`), /var/lib/dbus/machine-id (emptied, when a regular file)",
		"/var/lib/systemd/random-seed, /var/lib/systemd/credential.secret",
		"/var/lib/dhcp/*.leases, /var/lib/dhclient/*.lease*, /var/lib/dhcpcd/*.lease*, /var/lib/NetworkManager/*.lease, /var/lib/wicked/lease-*",
		"/etc/udev/rules.d/70-persistent-net.rules",
		"cloud-init's state and logs (`cloud-init clean --logs --seed`: /var/lib/cloud/*, /var/log/cloud-init*.log), unless `cloud_init_clean = false`",
		"/etc/ssh/ssh_host_* (only when something regenerates them at boot), unless `remove_host_keys = false`; then /run/ami-hygiene/no-reconnect (in memory, gone at the next boot: no reboot in the rest of the build)",
		"with `ensure_host_keys`: /etc/systemd/system/ami-hygiene-ssh-host-keys.service and its multi-user.target.wants link",
		"with `reset_hostname`: /etc/hostname, the `127.0.1.1` line of /etc/hosts that names the build's hostname, and the running system's hostname (`localhost` for the rest of the build, so that sudo still resolves it)",
		"/var/lib/rpm/__db.* (RPM's database environment, made again by the next rpm command)",
		"`mac-address=`/`cloned-mac-address=` lines naming a MAC of the build's own interfaces in /etc/NetworkManager/system-connections/*; `HWADDR=` and `UUID=` lines of /etc/sysconfig/network-scripts/ifcfg-* and /etc/sysconfig/network/ifcfg-* (not `ifcfg-lo`)",
		"cloud-init's network configuration, when cloud-init runs at the next boot and renders the network (its list for `cloud-init clean --configs network`): /etc/netplan/50-cloud-init.yaml, /etc/network/interfaces.d/50-cloud-init(.cfg), /etc/NetworkManager/conf.d/99-cloud-init.conf, /etc/NetworkManager/conf.d/30-cloud-init-ip6-addr-gen-mode.conf, /etc/NetworkManager/system-connections/cloud-init-*.nmconnection, /etc/systemd/network/10-cloud-init-*.network",
	},
	configOf: func(c *Config) stepConfig { return &c.MachineIdentity },
}

func (s *MachineIdentity) prepare(v *validator, attr string) {}

func (s *MachineIdentity) env() []envVar {
	return []envVar{
		{"AMIH_REMOVE_HOST_KEYS", flag(!s.RemoveHostKeys.False())},
		{"AMIH_ENSURE_HOST_KEYS", flag(s.EnsureHostKeys)},
		{"AMIH_CLOUD_INIT_CLEAN", flag(!s.CloudInitClean.False())},
		{"AMIH_RESET_HOSTNAME", flag(s.ResetHostname)},
		{"AMIH_FIRST_BOOT", flag(s.FirstBoot)},
	}
}
