# shellcheck shell=sh
# verify: run each user check and print its exit code and output; Go decides
# whether they match expect_exit_code and expect_output.
# inputs: AMIH_CHECK_COUNT, and for each check N (1..COUNT):
#         AMIH_CHECK_N_COMMAND, AMIH_CHECK_N_AS_USER (empty: root),
#         AMIH_CHECK_N_TIMEOUT (seconds)
# output: `output N TEXT` (stdout and stderr, at most 64 KiB) and `count exit_N CODE`
i=1
while [ "$i" -le "${AMIH_CHECK_COUNT:-0}" ]; do
	eval "command=\${AMIH_CHECK_${i}_COMMAND}"
	eval "as_user=\${AMIH_CHECK_${i}_AS_USER:-}"
	eval "seconds=\${AMIH_CHECK_${i}_TIMEOUT:-300}"
	# shellcheck disable=SC2154 # set by eval above
	set -- sh -c "$command"
	if [ -n "$as_user" ]; then
		if have runuser; then
			set -- runuser -u "$as_user" -- "$@"
		else
			set -- su -s /bin/sh "$as_user" -c "$command"
		fi
	fi
	# shellcheck disable=SC2154
	have timeout && set -- timeout "$seconds" "$@"
	out=$("$@" 2>&1 </dev/null)
	code=$?
	rec output "$i" "$(printf '%s' "$out" | head -c 65536)"
	rec count "exit_$i" "$code"
	i=$((i + 1))
done
