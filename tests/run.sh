#!/bin/bash
# Runs every test: the C layout check (one test), Check unit tests, fuzz
# targets (bounded), integration tests on bare-metal payloads and end-to-end
# tests on the tiny Linux guest. ONLY=lint|unit|fuzz|vm|integration|e2e
# runs one part.
# Ends with one line "N passed, N failed" for the whole run.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
ONLY=${ONLY:-}
# The outer run hands the nested host only VM scripts.
[ "${MEMVM_NESTED:-}" = inside ] && [ -n "${MEMVM_VM_SCRIPTS:-}" ] && ONLY=vm
passed=0 failed=0 skipped=0
log=$BUILD/test-logs
mkdir -p "$log"
. guests/nested/where.sh

# Where the VM tests (integration, e2e) run: on this machine's /dev/kvm, or,
# where there is none (or MEMVM_NESTED=1), in the nested KVM host, booted
# once for all of them.
case $(vm_host) in
inside) vm_where="nested KVM (TCG, AMD-V)" ;;
native) vm_where="native KVM" ;;
*) vm_where=nested ;;
esac
durations=()
part_done() { durations+=("$1 $(($SECONDS - $2))s"); }

count_unit() {
	local bin=$1 out=$log/$(basename "$1").log
	"$bin" >"$out" 2>&1
	local rc=$?
	# Check's summary: "100%: Checks: 12, Failures: 0, Errors: 0"
	local line
	line=$(grep -E '^[0-9]+%: Checks: ' "$out" | tail -1)
	echo "$(basename "$bin"): ${line:-no summary (exit $rc)}"
	if [ -z "$line" ]; then
		failed=$((failed + 1)); tail -20 "$out"; return
	fi
	local n f e
	n=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
	f=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
	e=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
	passed=$((passed + n - f - e)); failed=$((failed + f + e))
	[ $((f + e)) -gt 0 ] && grep -E ':[EF]:' "$out" | head -20
	[ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ] && { echo "  exit status $rc"; failed=$((failed + 1)); }
	return 0
}

count_script() {
	local script=$1 name out
	name=$(basename "$script" .sh)
	out=$log/$name.log
	local t0=$SECONDS
	# A script that hangs fails instead of stopping the whole run.
	timeout -k 10 "${SCRIPT_TIMEOUT:-900}" bash "$script" >"$out" 2>&1
	local rc=$?
	[ "$rc" -eq 124 ] && echo "FAIL: $name: did not finish within ${SCRIPT_TIMEOUT:-900} s" >>"$out"
	local p f s
	p=$(grep -c '^PASS: ' "$out"); f=$(grep -c '^FAIL: ' "$out"); s=$(grep -c '^SKIP: ' "$out")
	echo "$name: $p passed, $f failed, $s skipped ($((SECONDS - t0))s)"
	grep -E '^(FAIL|SKIP): ' "$out" | sed 's/^/  /'
	if [ "$rc" -ne 0 ]; then echo "  $script exited $rc"; tail -5 "$out" | sed 's/^/  | /'; f=$((f + 1)); fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then echo "  no assertions ran"; f=$((f + 1)); fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	last_counts="$p $f $s"
}

# Lint: the C layout (.clang-format), the architecture (which folder may
# include which, no include circles), the hardened binaries and the docs
# (every option and command in -help and the man pages; make install), one
# test each.
if [ -z "$ONLY" ] || [ "$ONLY" = lint ]; then
	t0=$SECONDS
	for l in format layers hardening docs; do
		if bash "tests/lint/$l.sh" >"$log/$l.log" 2>&1; then
			echo "$(tail -1 "$log/$l.log")"; passed=$((passed + 1))
		else
			echo "$l: FAILED"; sed 's/^/  /' "$log/$l.log"; failed=$((failed + 1))
		fi
	done
	part_done lint $t0
fi
if [ -z "$ONLY" ] || [ "$ONLY" = unit ]; then
	t0=$SECONDS
	for t in "$BUILD"/tests/test_*; do [ -x "$t" ] && count_unit "$t"; done
	part_done unit $t0
fi
if [ -z "$ONLY" ] || [ "$ONLY" = fuzz ]; then
	t0=$SECONDS
	# The corpus lives in the cache beside the guest kernel, so each run
	# (fresh clones in CI too) starts from what earlier runs found.
	corpora=${MEMVM_CACHE:-/var/cache/memvm}/fuzz-corpus
	mkdir -p "$corpora" 2>/dev/null && [ -w "$corpora" ] || corpora=$BUILD/fuzz
	for f in "$BUILD"/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		mkdir -p "$corpora/$name"
		if "$f" -max_total_time="${FUZZ_SECONDS:-5}" "$corpora/$name" >"$log/$name.log" 2>&1; then
			echo "$name: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log/$name.log" | tail -1)s, no crash"; passed=$((passed + 1))
		else
			echo "$name: FAILED"; tail -20 "$log/$name.log"; failed=$((failed + 1))
		fi
	done
	part_done fuzz $t0
fi
vm_kinds=()
for kind in integration e2e; do
	case $ONLY in "" | vm | "$kind") vm_kinds+=("$kind") ;; esac
done
vm_scripts=()
for kind in "${vm_kinds[@]}"; do
	for s in tests/$kind/*.sh; do [ -f "$s" ] && [ "$s" != tests/e2e/balloon.sh ] && vm_scripts+=("$s"); done
done
# balloon.sh runs last: its hog scenario hands huge pages from one memvm to
# another, and in the nested KVM host (TCG's nested paging) guests started
# after it in the same boot were seen to triple-fault or not boot.
case $ONLY in "" | vm | e2e) [ -f tests/e2e/balloon.sh ] && vm_scripts+=(tests/e2e/balloon.sh) ;; esac
# Inside the nested host, the outer run names the scripts still to run.
[ "${MEMVM_NESTED:-}" = inside ] && [ -n "${MEMVM_VM_SCRIPTS:-}" ] && read -ra vm_scripts <<<"$MEMVM_VM_SCRIPTS"
# What runs in the nested KVM host: every VM script where there is no
# usable /dev/kvm. On a PVM host (KVM emulates guest kernel mode: see
# README) the bare-metal payload scripts (tests/integration) run on its
# /dev/kvm here, and the Linux guest scripts (tests/e2e) in the nested
# host: guest system calls fail on PVM, and its emulated kernel mode made
# one CI boot of the tiny guest take 480 s (guest clock) to reach init,
# where the nested host takes about 5.
nested_list=()
if [ "$vm_where" = nested ]; then
	nested_list=("${vm_scripts[@]}")
	vm_scripts=()
elif [ "$vm_where" = "native KVM" ] && { [ -d /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; }; then
	keep=()
	for s in "${vm_scripts[@]}"; do
		case $s in tests/e2e/*) nested_list+=("$s") ;; *) keep+=("$s") ;; esac
	done
	vm_scripts=("${keep[@]}")
	[ ${#nested_list[@]} -gt 0 ] && vm_where="payloads on native KVM (PVM: it emulates guest kernel mode)"
fi
if [ ${#nested_list[@]} -gt 0 ]; then
	t0=$SECONDS
	if [ ${#vm_scripts[@]} -eq 0 ]; then
		echo "VM tests: no usable /dev/kvm here; running them in the nested KVM host (TCG, AMD-V)"
	else
		echo "VM tests: this /dev/kvm is PVM's; running the Linux guest ones in the nested KVM host (TCG, AMD-V): ${nested_list[*]}"
	fi
	: >"$log/vm-results"
	rm -f "$log"/*.first-try.log
	boots=0 retried=()
	while :; do
		todo=()
		for s in "${nested_list[@]}"; do
			grep -q "^$s " "$log/vm-results" || todo+=("$s")
		done
		[ ${#todo[@]} -eq 0 ] && break
		if [ "$boots" -ge "${MEMVM_NESTED_BOOTS:-6}" ]; then
			for s in "${todo[@]}"; do echo "$s: did not finish in $boots boots of the nested KVM host"; done
			failed=$((failed + ${#todo[@]}))
			break
		fi
		boots=$((boots + 1))
		[ "$boots" -gt 1 ] && echo "VM tests: booting the nested host again for: ${todo[*]}"
		MEMVM_VM_SCRIPTS="${todo[*]}" bash guests/nested/host.sh run -- bash tests/run.sh
		nrc=$?
		[ "$nrc" -ne 0 ] && [ "$nrc" -ne 124 ] && echo "VM tests: the nested KVM host run exited $nrc"
		if [ "$nrc" -eq 125 ] && [ ! -s "$log/vm-results" ]; then
			# A set-up error (its one line is above): booting again cannot help.
			failed=$((failed + ${#todo[@]}))
			break
		fi
		# TCG's nested SVM also crashes single guests now and then (see
		# README): a script that failed runs once more in a fresh boot, and
		# that second result counts. Its first failures stay in the log and
		# are listed here, so a flaky script is visible, and one that fails
		# twice fails the run.
		while read -r s p f sk; do
			[ "$f" -gt 0 ] || continue
			n=$(basename "$s" .sh)
			[ -f "$log/$n.first-try.log" ] && continue
			cp "$log/$n.log" "$log/$n.first-try.log"
			echo "VM tests: $n failed $f assertion(s) in boot $boots; running it again in a fresh boot (first try: $log/$n.first-try.log)"
			retried+=("$n")
			grep -v "^$s " "$log/vm-results" >"$log/vm-results.tmp"; mv "$log/vm-results.tmp" "$log/vm-results"
		done < <(cat "$log/vm-results")
	done
	[ ${#retried[@]} -gt 0 ] && echo "VM tests: run twice after a failure in the nested host: ${retried[*]}"
	while read -r s p f sk; do
		passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + sk))
	done <"$log/vm-results"
	if [ ${#vm_scripts[@]} -eq 0 ]; then
		vm_where="nested KVM (TCG, AMD-V), $boots boot(s)"
	else
		vm_where+="; Linux guests in the nested KVM host (TCG, AMD-V), $boots boot(s)"
	fi
	part_done "vm (nested host, boots included)" $t0
fi
for s in "${vm_scripts[@]}"; do
	t1=$SECONDS
	count_script "$s"
	part_done "$(basename "$s" .sh)" $t1
	if [ "${MEMVM_NESTED:-}" = inside ]; then
		echo "$s $last_counts" >>"$log/vm-results"
		sync
	fi
done
if [ "${MEMVM_NESTED:-}" = inside ]; then
	echo "durations (nested host): ${durations[*]}"
	exit 0 # the outer run adds up $log/vm-results and prints the summary
fi
echo "durations: ${durations[*]}"
case $ONLY in "" | vm | integration | e2e) echo "VM tests ran in: $vm_where" ;; esac
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
