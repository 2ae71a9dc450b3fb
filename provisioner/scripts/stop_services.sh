# shellcheck shell=sh
# stop_services: stop (and optionally disable) the named services.
# inputs: AMIH_SERVICES (one per line), AMIH_DISABLE (1 or 0)
if [ -d "$AMIH_ROOT/run/systemd/system" ] && have systemctl; then
	init=systemd
elif have rc-service; then
	init=openrc
elif have service || [ -d "$AMIH_ROOT/etc/init.d" ]; then
	init=sysv
else
	fail "no supported service manager found (systemd, OpenRC, SysV init)"
fi
rec fact init_system "$init"

exists() {
	case $init in
	systemd) [ "$(unit_load_state "$1")" = loaded ] ;;
	openrc | sysv) [ -x "$AMIH_ROOT/etc/init.d/$1" ] ;;
	esac
}
active() {
	case $init in
	systemd) systemctl is-active --quiet -- "$1" ;;
	openrc) rc-service "$1" status >/dev/null 2>&1 ;;
	sysv) if have service; then service "$1" status >/dev/null 2>&1; else "/etc/init.d/$1" status >/dev/null 2>&1; fi ;;
	esac
}
enabled() {
	case $init in
	systemd) [ "$(systemctl is-enabled -- "$1" 2>/dev/null)" = enabled ] ;;
	openrc) rc-update show 2>/dev/null | awk '{ print $1 }' | grep -qxF -- "$1" ;;
	sysv) ls /etc/rc[2-5].d/S[0-9][0-9]"$1" >/dev/null 2>&1 ;;
	esac
}
stop() {
	case $init in
	systemd) systemctl stop -- "$1" ;;
	openrc) rc-service "$1" stop ;;
	sysv) if have service; then service "$1" stop; else "/etc/init.d/$1" stop; fi ;;
	esac
}
disable() {
	case $init in
	systemd) systemctl disable --quiet -- "$1" ;;
	openrc) rc-update del "$1" ;;
	sysv) if have update-rc.d; then update-rc.d "$1" disable; else chkconfig "$1" off; fi ;;
	esac
}

missing=
check_exists() { exists "$1" || missing="$missing $1"; }
each_line "$AMIH_SERVICES" check_exists
[ -z "$missing" ] || fail "no such service:$missing"

handle() {
	if active "$1"; then
		rec change stop "$1"
		if ! dry_run; then
			stop "$1" >&2 || fail "could not stop $1"
			! active "$1" || fail "$1 is still active after stopping it"
		fi
	else
		rec info "$1 is not running"
	fi
	if [ "$AMIH_DISABLE" = 1 ] && enabled "$1"; then
		rec change disable "$1"
		dry_run || disable "$1" >&2 || fail "could not disable $1"
	fi
}
each_line "$AMIH_SERVICES" handle
