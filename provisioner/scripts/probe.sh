# shellcheck shell=sh
# probe: facts about the guest, read before any step: in the boot's root
# shell (user: the SSH user, whom sudo names), or as the SSH user in a
# session of its own where the communicator keeps no shell. Linux's /proc
# gives the facts to the shell's own `read` (no program started: about
# 40 ms each under emulation); the programs are the fallback elsewhere.
rec fact user "${SUDO_USER:-$(id -un)}"
amih_uid=
if [ -r /proc/self/status ]; then
	# The shell's own status: the redirection is the shell's, not a child's.
	while read -r _key _real _; do
		if [ "$_key" = Uid: ]; then
			amih_uid=$_real
			break
		fi
	done </proc/self/status
fi
rec fact uid "${amih_uid:-$(id -u)}"
kernel_fact /proc/sys/kernel/random/boot_id
rec fact boot_id "$amih_fact"
kernel_fact /proc/sys/kernel/osrelease uname -r
rec fact kernel "$amih_fact"
kernel_fact /proc/sys/kernel/arch uname -m
rec fact machine "$amih_fact"
if [ -r /etc/os-release ]; then
	# shellcheck disable=SC1091
	. /etc/os-release
	rec fact os_id "${ID:-}"
	rec fact os_version_id "${VERSION_ID:-}"
	rec fact os_pretty_name "${PRETTY_NAME:-}"
fi
rec fact missing_tools "$(missing_tools)"
