# shellcheck shell=sh
# The shell tests' assertions, in TAP: one line per check, the plan last.
# Sourced by each tests/test-* shell script: . "$(dirname "$0")/tap.sh"
# (POSIX sh; the scripts keep their own set-up and cleanup).

n=0
failed=0
tap_why=${TMPDIR:-/tmp}/tap-why.$$

ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# diag [FILE...]: the lines as TAP comments.
diag() { sed 's/^/# /' "$@"; }

# check DESCRIPTION COMMAND...: COMMAND succeeds. Its output is shown only
# when it fails. COMMAND runs in this shell (a function may set variables).
check() {
	tap_desc=$1
	shift
	if "$@" >"$tap_why" 2>&1; then ok "$tap_desc"; else not_ok "$tap_desc"; diag "$tap_why"; fi
	rm -f "$tap_why"
}
# check_eq DESCRIPTION GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1"; printf '  got:  %s\n  want: %s\n' "$2" "$3" | diag; fi
}
# has FILE TEXT DESCRIPTION / hasnt: FILE holds TEXT (a fixed string) or not.
has() {
	if grep -qF -- "$2" "$1"; then ok "$3"; else not_ok "$3: no \"$2\" in:"; head -20 "$1" | diag; fi
}
hasnt() {
	if grep -qF -- "$2" "$1"; then not_ok "$3: \"$2\" in:"; head -20 "$1" | diag; else ok "$3"; fi
}
# until_true SECONDS COMMAND...: retries COMMAND every 0.1 s.
until_true() {
	tap_tries=$(($1 * 10))
	shift
	while [ "$tap_tries" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		tap_tries=$((tap_tries - 1))
	done
	return 1
}
# done_testing: the plan; exits 0 when every check passed.
done_testing() { echo "1..$n"; [ "$failed" -eq 0 ]; exit $?; }
# bail REASON: one failing check for what stopped the test, and the plan.
bail() { not_ok "$*"; done_testing; }
