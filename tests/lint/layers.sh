#!/bin/bash
# The architecture, checked: every C file may include headers of its own
# folder or of a folder below it, never above or beside, and no two
# modules (a .c and its .h) include each other, directly or in a circle.
# Prints each offending include and exits 1; prints the folder graph
# with -v.
#
#   vmm/ctl          memvm-ctl: the ground floor and the sandbox only
#   vmm (main.c)     board, config
#   vmm/board        the machine, device manager, boot description, console
#   vmm/boot  vmm/monitor
#   vmm/core         KVM VM, vCPUs, run state
#   balloon  vmm/config
#   devices
#   memory
#   vmm/sandbox      seccomp filters, capabilities
#   vmm/lib          util, evloop, size, version
set -u
cd "$(dirname "$0")/../.."
verbose=${1:-}

rank() {
	case $1 in
	vmm/lib) echo 0 ;;
	vmm/sandbox) echo 1 ;;
	memory) echo 2 ;;
	devices) echo 3 ;;
	balloon | vmm/config) echo 4 ;;
	vmm/core) echo 5 ;;
	vmm/boot | vmm/monitor) echo 6 ;;
	vmm/board) echo 7 ;;
	vmm) echo 8 ;;
	vmm/ctl) echo 9 ;;
	*) echo -1 ;;
	esac
}

module() {
	local m=${1%.*}
	echo "${m%_int}"
}

bad=0
declare -A edges folder_edges
files=$(git ls-files 'vmm/*.[ch]' 'memory/*.[ch]' 'devices/*.[ch]' 'balloon/*.[ch]' 2>/dev/null)
[ -n "$files" ] || files=$(find vmm memory devices balloon -name '*.[ch]')
for f in $files; do
	from=$(dirname "$f")
	rf=$(rank "$from")
	if [ "$rf" -lt 0 ]; then
		echo "layers: $f: folder $from has no place in the architecture (tests/lint/layers.sh)"
		bad=1
		continue
	fi
	while read -r inc; do
		[ -n "$inc" ] || continue
		to=$(dirname "$inc")
		[ -e "$inc" ] || continue
		# A module is a .c with its .h (and a private foo_int.h): foo.c
		# including bar.h and bar.c including foo.h is a circle.
		a=$(module "$f") b=$(module "$inc")
		[ "$a" != "$b" ] && edges[$a]+=" $b"
		[ "$to" = "$from" ] && continue
		rt=$(rank "$to")
		folder_edges["$from -> $to"]=1
		ok=1
		if [ "$from" = vmm/ctl ]; then
			[ "$to" = vmm/lib ] || [ "$to" = vmm/sandbox ] || ok=0
		elif [ "$rt" -lt 0 ] || [ "$rt" -ge "$rf" ]; then
			ok=0
		fi
		if [ $ok = 0 ]; then
			echo "layers: $f includes $inc: $from may not depend on $to"
			bad=1
		fi
	done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f")
done

# Circles between modules: depth-first search over the include graph.
declare -A state
cycle=""
visit() {
	local f=$1 n
	state[$f]=1
	for n in ${edges[$f]:-}; do
		case ${state[$n]:-0} in
		1) cycle="$n <- $f"; return 1 ;;
		0) visit "$n" || { [ -n "$cycle" ] && cycle="$cycle <- $f"; return 1; } ;;
		esac
	done
	state[$f]=2
	return 0
}
for f in $(for f in $files; do module "$f"; done | sort -u); do
	[ "${state[$f]:-0}" = 0 ] || continue
	if ! visit "$f"; then
		echo "layers: include circle: $cycle"
		bad=1
		break
	fi
done

if [ "$verbose" = -v ]; then
	for e in "${!folder_edges[@]}"; do echo "$e"; done | sort
fi
[ $bad = 0 ] && echo "layers: $(echo "$files" | wc -w) files, no upward include, no circle"
exit $bad
