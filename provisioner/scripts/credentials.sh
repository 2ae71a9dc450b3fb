# shellcheck shell=sh
# credentials: remove well-known third-party credentials of every user, and
# the paths the template lists.
# inputs: AMIH_PATHS (absolute paths, one per line)
files='.aws/credentials
.docker/config.json
.git-credentials
.config/git/credentials
.netrc
.pgpass
.my.cnf
.npmrc
.pypirc
.config/gcloud/credentials.db
.config/gcloud/access_tokens.db
.config/gcloud/application_default_credentials.json
.azure/accessTokens.json
.azure/msal_token_cache.json
.azure/msal_token_cache.bin
.azure/service_principal_entries.json
.kube/config
.vault-token'
trees='.aws/sso/cache
.aws/cli/cache
.config/gcloud/legacy_credentials
.chef'

# Files that only hold credentials in some cases are removed only then.
holds_credentials() {
	case $1 in
	*/.docker/config.json) grep -q '"auth"' "$1" 2>/dev/null ;;
	*/.npmrc) grep -q -E '_authToken|_auth|_password' "$1" 2>/dev/null ;;
	*/.pypirc) grep -q -E '^[[:space:]]*password' "$1" 2>/dev/null ;;
	*) return 0 ;;
	esac
}

private_key() { head -c 100 "$1" 2>/dev/null | grep -q -- '-----BEGIN .*PRIVATE KEY-----'; }

# clean_home USER<TAB>HOME
clean_home() {
	_home=$AMIH_ROOT${1#*"$tab"}
	each_line "$files" remove_credential_file "$_home"
	each_line "$trees" remove_credential_tree "$_home"
	# Private keys in ~/.ssh (public keys, known_hosts and config stay).
	[ -d "$_home/.ssh" ] && [ ! -L "$_home/.ssh" ] || return 0
	for key in "$_home"/.ssh/*; do
		if [ -f "$key" ] && [ ! -L "$key" ] && private_key "$key"; then
			remove_file "$key"
		fi
	done
}
remove_credential_file() {
	if [ -L "$1/$2" ] || { [ -f "$1/$2" ] && holds_credentials "$1/$2"; }; then
		remove_file "$1/$2"
	fi
}
remove_credential_tree() { remove_tree "$1/$2"; }
remove_listed_path() { remove_tree "$AMIH_ROOT$1"; }

each_line "$(user_homes)" clean_home
remove_file "$AMIH_ROOT/etc/chef/client.pem"
remove_file "$AMIH_ROOT/etc/chef/validation.pem"
each_line "${AMIH_PATHS:-}" remove_listed_path
