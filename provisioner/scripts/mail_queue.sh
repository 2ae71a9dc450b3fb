# shellcheck shell=sh
# mail_queue: report the queue, flush it, wait until it is empty, then fail
# or purge what is left; finally empty the local mail spools.
# inputs: AMIH_FLUSH_TIMEOUT (seconds), AMIH_ON_TIMEOUT (fail | purge)
mta=$(mail_system)
rec fact mail_system "$mta"
exim=$(command -v exim4 || command -v exim || :)

# flush_command: the MTA's flush, as a command line for sh -c (built from
# the plugin's own words and the MTA's path, quoted).
flush_command() {
	case $mta in
	postfix) echo "postqueue -f" ;;
	exim) printf "'%s' -qff\n" "$(printf '%s' "$exim" | sed "s/'/'\\\\''/g")" ;;
	sendmail) echo "sendmail -q" ;;
	esac
}
flush() { sh -c "$(flush_command)"; }
# sendmail's queue files are removed (and overwritten first) one by one;
# postfix's and exim's own purge removes theirs (the free_space step clears
# the blocks they leave).
remove_queue_file() { remove_file "$1" "$AMIH_ROOT/var/spool/mqueue"; }
purge() {
	case $mta in
	postfix) postsuper -d ALL >/dev/null 2>&1 ;;
	exim) "$exim" -bp | awk 'NF >= 3 && $3 ~ /-/ { print $3 }' | xargs -r "$exim" -Mrm >/dev/null ;;
	sendmail) find_each remove_queue_file "$AMIH_ROOT/var/spool/mqueue" -xdev -type f ;;
	esac
}

n=$(queued "$mta")
rec count queued_before "$n"
if [ "$n" -gt 0 ]; then
	rec change flush "mail queue" "$n messages"
	if ! dry_run; then
		# exim -qff and sendmail -q deliver in the foreground: the flush
		# itself runs inside flush_timeout, and the wait gets what is left.
		start=$(seconds_since_boot)
		if have timeout; then
			timeout -k 5 "$AMIH_FLUSH_TIMEOUT" sh -c "$(flush_command)" >&2 </dev/null
		else
			flush >&2 </dev/null
		fi || rec warn "flushing the $mta queue failed or was stopped after ${AMIH_FLUSH_TIMEOUT}s"
		while n=$(queued "$mta") && [ "$n" -gt 0 ] && [ $(($(seconds_since_boot) - start)) -lt "$AMIH_FLUSH_TIMEOUT" ]; do
			sleep 1
		done
		if [ "$n" -gt 0 ]; then
			[ "$AMIH_ON_TIMEOUT" = purge ] || fail "$n messages still queued after ${AMIH_FLUSH_TIMEOUT}s (flush_timeout); on_timeout = \"purge\" deletes them"
			purge || fail "could not purge the $mta queue"
			rec change purge "mail queue" "$n messages"
			rec count purged "$n"
			left=$(queued "$mta")
			[ "$left" -eq 0 ] || fail "$left messages still queued after purging"
		fi
	fi
fi

# Local mail spools: empty every mailbox, keeping the file, its owner and mode.
for spool in "$AMIH_ROOT/var/mail" "$AMIH_ROOT/var/spool/mail"; do
	if [ ! -d "$spool" ] || [ -L "$spool" ]; then continue; fi
	for box in "$spool"/*; do
		# Overwritten first (the step handles secrets: lib.sh overwrite),
		# emptied again at the final shutdown if mail comes since.
		empty_file empty "$box"
	done
	# The final shutdown empties the spool's mailboxes again, those made
	# since included (root's first mail of the build may come later).
	if ! dry_run && mkdir -p "$AMIH_ROOT/run/ami-hygiene" 2>/dev/null; then
		escape "$(shown "$spool")"
		printf '%s\n' "$amih_escaped" >>"$AMIH_ROOT/run/ami-hygiene/spools"
	fi
done
