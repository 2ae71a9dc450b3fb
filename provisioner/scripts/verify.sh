# shellcheck shell=sh
# verify: run each user check and print its exit code and output; Go decides
# whether they match expect_exit_code and expect_output.
# inputs: AMIH_CHECK_COUNT, and for each check N (1..COUNT):
#         AMIH_CHECK_N_COMMAND, AMIH_CHECK_N_AS_USER (empty: root),
#         AMIH_CHECK_N_TIMEOUT (seconds)
# output: `output N TEXT` (stdout and stderr, at most 64 KiB) and `count exit_N CODE`
#
# The command's output goes to a private file, not a pipe: a child that
# keeps it open (`sleep 600 &`) cannot hold the step. The command runs in a
# session of its own (setsid), which is killed whole when it ends or its
# command_timeout is over.
temp_file || fail "cannot create a temporary file for the checks' output"
out_file=$amih_tmp
temp_file || fail "cannot create a temporary file"
pid_file=$amih_tmp
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
	# The shell that becomes the session leader writes its pid, then runs
	# the check in its place.
	: >"$pid_file"
	# shellcheck disable=SC2016 # expanded by that shell
	set -- sh -c 'printf "%s\n" "$$" >"$0"; exec "$@"' "$pid_file" "$@"
	have setsid && set -- setsid "$@"
	# shellcheck disable=SC2154
	have timeout && set -- timeout -k 5 "$seconds" "$@"
	"$@" >"$out_file" 2>&1 </dev/null
	code=$?
	leader=$(cat "$pid_file" 2>/dev/null)
	# `kill -KILL -PGID`: dash's kill knows no `--`.
	if have setsid && [ -n "$leader" ]; then kill -KILL "-$leader" 2>/dev/null; fi
	rec output "$i" "$(head -c 65536 "$out_file")"
	rec count "exit_$i" "$code"
	i=$((i + 1))
done
