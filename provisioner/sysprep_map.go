package provisioner

// What each of virt-sysprep's operations becomes in this plugin, for users
// who come from it (virt-sysprep works on a stopped disk image; this plugin
// works live inside the build). The operations are those of virt-sysprep
// 1.48.2 (testdata/virt-sysprep-operations.txt; TestVirtSysprepMapIsComplete
// holds the two together). internal/gendocs writes the docs' table from it.

// Coverage says how far the plugin does what a virt-sysprep operation does.
type Coverage string

// The kinds of coverage.
const (
	// Covered: a step does it (by default unless the note says otherwise).
	Covered Coverage = "covered"
	// Partly: a step does part of it; the note says what is left.
	Partly Coverage = "partly"
	// NotApplicable: it makes no sense live inside a build, or the plugin
	// leaves it to something else on purpose; the note says why.
	NotApplicable Coverage = "not applicable"
	// NotDone: the plugin does not do it (yet).
	NotDone Coverage = "not done"
)

// SysprepOperation maps one virt-sysprep operation to the plugin.
type SysprepOperation struct {
	// Name is the operation's name in virt-sysprep.
	Name string
	// Coverage says how far the plugin does it.
	Coverage Coverage
	// Steps are the steps that do it.
	Steps []string
	// Note says what exactly, or why not.
	Note string
}

var sysprepMap = []SysprepOperation{
	{"abrt-data", Covered, []string{"caches"}, "`/var/spool/abrt/*`"},
	{"backup-files", NotDone, nil, "editor backups (`*~`, `*.bak`) anywhere on the filesystem: a live build cannot tell them from an application's files; list them in `credentials.paths`"},
	{"bash-history", Covered, []string{"shell_history"}, "every shell's history, not only bash's, of root and every user"},
	{"blkid-tab", NotDone, nil, "`/etc/blkid.tab` and `/etc/blkid/blkid.tab`, an old cache that current util-linux no longer writes"},
	{"ca-certificates", NotApplicable, nil, "off by default in virt-sysprep too: an image keeps its trust store"},
	{"crash-data", Covered, []string{"caches"}, "`/var/crash/*` and systemd's core dumps"},
	{"cron-spool", NotDone, nil, "users' crontabs and at jobs are often the image's own jobs; remove them in your own provisioner"},
	{"customize", NotApplicable, nil, "Packer's own provisioners (`shell`, `file`) customize the image before this one"},
	{"dhcp-client-state", Covered, []string{"machine_identity", "final_shutdown"}, "the leases of dhclient, dhcpcd, NetworkManager and wicked, and the lease the final shutdown writes"},
	{"dhcp-server-state", NotDone, nil, "a DHCP server's leases (`/var/lib/dhcpd/*`) are rare on images; list them in `credentials.paths`"},
	{"dovecot-data", NotDone, nil, "Dovecot's data: `mail_queue` empties the mail spools, not a mail server's store"},
	{"firewall-rules", NotApplicable, nil, "off by default in virt-sysprep too: an image keeps its firewall"},
	{"flag-reconfiguration", NotApplicable, nil, "off by default in virt-sysprep too (Red Hat's `/.unconfigured`); cloud-init configures each instance"},
	{"fs-uuids", NotApplicable, nil, "off by default in virt-sysprep too; filesystem UUIDs cannot change under a mounted root, and every instance of an AMI shares them by design"},
	{"ipa-client", NotDone, nil, "FreeIPA enrolment files; unenrol in your own provisioner (`ipa-client-install --uninstall`)"},
	{"kerberos-data", NotApplicable, nil, "off by default in virt-sysprep too"},
	{"kerberos-hostkeytab", NotDone, nil, "`/etc/krb5.keytab` is not removed by default: list it in `credentials.paths`"},
	{"logfiles", Covered, []string{"logs", "final_shutdown"}, "every file under `/var/log` emptied in place or removed when rotated, the journal, login records, and what the final shutdown writes"},
	{"lvm-uuids", NotApplicable, nil, "PV and VG UUIDs cannot change under a running root; every instance of an AMI shares them by design"},
	{"machine-id", Covered, []string{"machine_identity"}, "`/etc/machine-id` emptied (or `uninitialized` with `first_boot`), D-Bus's copy, systemd's `credential.secret`"},
	{"mail-spool", Covered, []string{"mail_queue"}, "every local mailbox emptied (overwritten first), and the queue flushed or purged"},
	{"net-hostname", Partly, []string{"machine_identity"}, "with `reset_hostname`: `/etc/hostname` and the build's `/etc/hosts` line; `HOSTNAME`/`DHCP_HOSTNAME` of ifcfg files stay"},
	{"net-hwaddr", Covered, []string{"machine_identity"}, "`HWADDR` (and `UUID`) of ifcfg files"},
	{"net-nmconn", Partly, []string{"machine_identity"}, "NetworkManager profiles keep their settings: only the build's MAC is removed from them, and cloud-init's generated profiles go"},
	{"pacct-log", Partly, []string{"logs"}, "Debian's `/var/log/account/pacct*` are emptied with the logs; the RHEL family's `/var/account/pacct*` stay"},
	{"package-manager-cache", Covered, []string{"caches"}, "apt, dnf, yum, zypper and apk caches, and users' pip, Go and npm caches"},
	{"pam-data", Covered, []string{"logs"}, "its files (`/var/run/console`, `faillock`, `sepermit`) live in `/run`, a tmpfs that is not in the image; `/var/log/faillog` and `tallylog` are emptied with the logs"},
	{"passwd-backups", Covered, []string{"caches"}, "`/etc/passwd-`, `/etc/shadow-` and co. (overwritten first)"},
	{"puppet-data-log", NotDone, nil, "Puppet's state and logs outside `/var/log`; list them in `credentials.paths`"},
	{"rh-subscription-manager", NotDone, nil, "unregister in your own provisioner (`subscription-manager unregister`): it talks to Red Hat"},
	{"rhn-systemid", NotDone, nil, "the obsolete RHN system id (`/etc/sysconfig/rhn/systemid`); list it in `credentials.paths`"},
	{"rpm-db", Covered, []string{"machine_identity"}, "RPM's `__db.*` environment files"},
	{"samba-db-log", NotDone, nil, "Samba's databases; list them in `credentials.paths`"},
	{"script", NotApplicable, nil, "Packer's `shell` provisioner runs your scripts"},
	{"smolt-uuid", NotApplicable, nil, "Smolt was retired years ago"},
	{"ssh-hostkeys", Covered, []string{"machine_identity"}, "only when something on the image makes new ones at boot (else the step refuses, or `ensure_host_keys` installs a unit that does)"},
	{"ssh-userdir", Partly, []string{"authorized_keys", "credentials"}, "the `authorized_keys`, private keys and `known_hosts` of every user, not the whole `.ssh` folder (its `config` stays)"},
	{"sssd-db-log", NotDone, nil, "SSSD's cache databases (`/var/lib/sss/db/*`); list them in `credentials.paths`"},
	{"tmp-files", Covered, []string{"caches"}, "`/tmp` and `/var/tmp` (not on a tmpfs, not the running services' private folders)"},
	{"udev-persistent-net", Covered, []string{"machine_identity"}, "`/etc/udev/rules.d/70-persistent-net.rules`"},
	{"user-account", Partly, []string{"final_shutdown"}, "only the users you name in `remove_users`, at the final shutdown (virt-sysprep's is off by default and takes names too)"},
	{"utmp", Covered, []string{"logs", "final_shutdown"}, "`/var/run/utmp`, and the login records of the final shutdown"},
	{"yum-uuid", NotDone, nil, "`/var/lib/yum/uuid` (yum only, not dnf); list it in `credentials.paths`"},
}

// VirtSysprepMap returns what each virt-sysprep operation becomes in this
// plugin, in virt-sysprep's order.
func VirtSysprepMap() []SysprepOperation {
	return append([]SysprepOperation(nil), sysprepMap...)
}
