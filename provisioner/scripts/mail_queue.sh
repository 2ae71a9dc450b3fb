# shellcheck shell=sh
# mail_queue: report the queue, flush it, wait until it is empty, then fail
# or purge what is left; finally empty the local mail spools.
# inputs: AMIH_FLUSH_TIMEOUT (seconds), AMIH_ON_TIMEOUT (fail | purge)
if have postqueue && have postsuper; then
	mta=postfix
elif have exim4 || have exim; then
	mta=exim
	exim=$(command -v exim4 || command -v exim)
elif have sendmail && [ -d "$AMIH_ROOT/var/spool/mqueue" ]; then
	mta=sendmail
else
	mta=none
fi
rec fact mail_system "$mta"

queued() {
	case $mta in
	postfix)
		n=$(postqueue -p 2>/dev/null | tail -n 1 | sed -n 's/.* in \([0-9][0-9]*\) Request.*/\1/p')
		echo "${n:-0}"
		;;
	exim) "$exim" -bpc 2>/dev/null || echo 0 ;;
	sendmail) find "$AMIH_ROOT/var/spool/mqueue" -type f -name 'qf*' 2>/dev/null | wc -l ;;
	none) echo 0 ;;
	esac
}
flush() {
	case $mta in
	postfix) postqueue -f ;;
	exim) "$exim" -qff ;;
	sendmail) sendmail -q ;;
	esac
}
purge() {
	case $mta in
	postfix) postsuper -d ALL >/dev/null 2>&1 ;;
	exim) "$exim" -bp | awk 'NF >= 3 && $3 ~ /-/ { print $3 }' | xargs -r "$exim" -Mrm >/dev/null ;;
	sendmail) find "$AMIH_ROOT/var/spool/mqueue" -type f -exec rm -f -- {} + ;;
	esac
}

n=$(queued)
rec count queued_before "$n"
if [ "$n" -gt 0 ]; then
	if dry_run; then
		rec change flush "mail queue" "$n messages"
	else
		rec change flush "mail queue" "$n messages"
		flush >&2 || rec warn "flushing the $mta queue failed"
		waited=0
		while n=$(queued) && [ "$n" -gt 0 ] && [ "$waited" -lt "$AMIH_FLUSH_TIMEOUT" ]; do
			sleep 1
			waited=$((waited + 1))
		done
		if [ "$n" -gt 0 ]; then
			[ "$AMIH_ON_TIMEOUT" = purge ] || fail "$n messages still queued after ${AMIH_FLUSH_TIMEOUT}s (flush_timeout); on_timeout = \"purge\" deletes them"
			purge || fail "could not purge the $mta queue"
			rec change purge "mail queue" "$n messages"
			rec count purged "$n"
			left=$(queued)
			[ "$left" -eq 0 ] || fail "$left messages still queued after purging"
		fi
	fi
fi

# Local mail spools: empty every mailbox, keeping the file, its owner and mode.
for spool in "$AMIH_ROOT/var/mail" "$AMIH_ROOT/var/spool/mail"; do
	if [ ! -d "$spool" ] || [ -L "$spool" ]; then continue; fi
	for box in "$spool"/*; do
		if [ ! -f "$box" ] || [ -L "$box" ] || [ ! -s "$box" ]; then continue; fi
		rec change empty "${box#"$AMIH_ROOT"}"
		dry_run || : >"$box" || fail "cannot empty ${box#"$AMIH_ROOT"}"
	done
done
