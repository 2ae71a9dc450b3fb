# shellcheck shell=sh
# shell_history: remove the history files of root and every passwd user.
# inputs: AMIH_EXTRA_PATTERNS (one glob per line, relative to each home)
# The plugin's own commands run through a non-interactive `sh`, which writes
# no history.
# The history files are listed in lib.sh (amih_histories). The user's extra
# patterns apply only in the homes of real users (user_homes login): never
# in the homes of system accounts such as /usr/sbin or /var/www.

# clean_pattern HOME GLOB: remove the history files GLOB matches in HOME;
# a link on the way out of HOME leaves its file alone.
clean_pattern() {
	_ifs=$IFS
	IFS=
	for path in "$1"/$2; do remove_file "$path" "$1"; done
	IFS=$_ifs
}
clean_home() { each_line "$amih_histories" clean_pattern "$AMIH_ROOT${1#*"$tab"}"; }
clean_login_home() { each_line "${AMIH_EXTRA_PATTERNS:-}" clean_pattern "$AMIH_ROOT${1#*"$tab"}"; }
each_home all clean_home
each_home login clean_login_home
