# shellcheck shell=sh
# probe: facts about the guest, read before any step: in the boot's root
# shell (user: the SSH user, whom sudo names), or as the SSH user in a
# session of its own where the communicator keeps no shell.
rec fact user "${SUDO_USER:-$(id -un)}"
rec fact uid "$(id -u)"
rec fact boot_id "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
rec fact kernel "$(uname -r)"
rec fact machine "$(uname -m)"
if [ -r /etc/os-release ]; then
	# shellcheck disable=SC1091
	. /etc/os-release
	rec fact os_id "${ID:-}"
	rec fact os_version_id "${VERSION_ID:-}"
	rec fact os_pretty_name "${PRETTY_NAME:-}"
fi
rec fact missing_tools "$(missing_tools)"
