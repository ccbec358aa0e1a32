# Shared helpers for shell-level tests (integration and end-to-end).
# Each test script prints one "PASS: name", "FAIL: name: why" or
# "SKIP: name: why" line per assertion; tests/run.sh counts them.
BUILD=${BUILD:-build}
MEMVM=${MEMVM:-$BUILD/memvm}
TESTS_TMP=${TESTS_TMP:-$(mktemp -d /tmp/memvm-test.XXXXXX)}

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; }
skip() { echo "SKIP: $1: $2"; }

# check NAME CONDITION-COMMAND... : PASS when the command succeeds.
check() {
	local name=$1; shift
	if "$@"; then pass "$name"; else fail "$name" "'$*' failed"; fi
}

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

# expect_match NAME REGEX FILE: PASS when FILE has a line matching REGEX.
expect_match() {
	if grep -Eq -- "$2" "$3"; then pass "$1"; else fail "$1" "no line matching /$2/ in $3: $(tail -c 400 "$3" | tr '\n' '|')"; fi
}

expect_no_match() {
	if grep -Eq -- "$2" "$3"; then fail "$1" "unexpected /$2/ in $3: $(grep -Em1 -- "$2" "$3")"; else pass "$1"; fi
}

# run_memvm OUTFILE TIMEOUT ARGS...: runs memvm with a timeout, stdout and
# stderr to OUTFILE; sets $rc to its exit status.
run_memvm() {
	local out=$1 t=$2; shift 2
	timeout --signal=KILL "$t" "$MEMVM" "$@" </dev/null >"$out" 2>&1
	rc=$?
}

# wait_for_line FILE REGEX SECONDS: waits until FILE has a matching line.
wait_for_line() {
	local f=$1 re=$2 t=$3 i=0
	while [ "$i" -lt $((t * 10)) ]; do
		grep -Eq -- "$re" "$f" 2>/dev/null && return 0
		sleep 0.1; i=$((i + 1))
	done
	return 1
}

is_root() { [ "$(id -u)" = 0 ]; }
have_kvm() { [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# require_kvm NAME: every VM test needs /dev/kvm. tests/run.sh runs these
# scripts in the nested KVM host where the machine has none, so a missing
# /dev/kvm here is a failure, never a skip.
require_kvm() {
	have_kvm && return 0
	fail "$1" "/dev/kvm is not usable by $(id -un): run this through 'make check' (which uses the nested KVM host where there is no /dev/kvm)"
	exit 0
}
