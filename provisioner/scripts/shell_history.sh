# shellcheck shell=sh
# shell_history: remove the history files of root and every passwd user.
# inputs: AMIH_EXTRA_PATTERNS (one glob per line, relative to each home)
# The plugin's own commands run through a non-interactive `sh`, which writes
# no history.
# The history files are listed in lib.sh (amih_histories).

# clean_pattern HOME GLOB: remove the history files GLOB matches in HOME.
clean_pattern() {
	_ifs=$IFS
	IFS=
	for path in "$1"/$2; do remove_file "$path"; done
	IFS=$_ifs
}
clean_home() { each_line "$amih_histories$nl${AMIH_EXTRA_PATTERNS:-}" clean_pattern "$AMIH_ROOT${1#*"$tab"}"; }
each_line "$(user_homes)" clean_home
