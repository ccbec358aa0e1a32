#!/bin/bash
# Checks that the tracked C sources are laid out as .clang-format says
# (tuned for clang-format 14, Debian 12's `clang-format`).
#   bash tests/lint/format.sh         check: one line per file that is not, then
#                                a one-line hint; exit 1 if any, 0 if none
#   bash tests/lint/format.sh --fix   rewrite those files in place (`make format`)
# Exit 1 as well when no clang-format is installed (make deps-test installs
# it), 2 when clang-format itself fails.
set -u
cd "$(dirname "$0")/../.."

# Files the formatter must never touch: generated sources, assembly-heavy
# payloads. None today: the payloads (guests/payloads/*.S) are not C, and
# guests/init/nosys.c's top-level __asm__ formats as written. One path a
# line, relative to the repository root.
EXCLUDE=(
)

fix=0
case ${1:-} in
--fix) fix=1 ;;
"") ;;
*) echo "usage: $0 [--fix]" >&2; exit 2 ;;
esac

cf=
for c in clang-format-14 clang-format; do
	command -v "$c" >/dev/null 2>&1 && { cf=$c; break; }
done
if [ -z "$cf" ]; then
	echo "format: clang-format is not installed; run 'make deps-format' as root (apt-get install clang-format)"
	exit 1
fi
version=$("$cf" --version | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?' | head -1)
case $version in
14.*) ;;
*) echo "format: note: $cf is $version; .clang-format is tuned for clang-format 14 (Debian 12), other versions may disagree" ;;
esac

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	mapfile -t tracked < <(git ls-files '*.c' '*.h')
else
	mapfile -t tracked < <(find . -path ./build -prune -o -type f -name '*.[ch]' -print | sed 's|^\./||' | sort)
fi
declare -A skip=()
for f in "${EXCLUDE[@]}"; do skip[$f]=exclude; done
files=()
for f in "${tracked[@]}"; do
	[ -f "$f" ] && [ -z "${skip[$f]:-}" ] && files+=("$f")
done

if [ "$fix" = 1 ]; then
	if [ ${#files[@]} -gt 0 ] && ! "$cf" --style=file --fallback-style=none -i "${files[@]}"; then
		echo "format: $cf failed"
		exit 2
	fi
	echo "format: formatted ${#files[@]} files with $cf $version"
	exit 0
fi

if [ ${#files[@]} -eq 0 ]; then
	echo "format: no C files to check"
	exit 0
fi
out=$("$cf" --style=file --fallback-style=none --dry-run -Werror "${files[@]}" 2>&1)
rc=$?
# One "FILE:LINE:COL: error: code should be clang-formatted" per change.
bad=$(grep -oE '^[^:]+:[0-9]+:[0-9]+: error: code should be clang-formatted' <<<"$out" |
	cut -d: -f1 | uniq -c)
if [ -z "$bad" ]; then
	if [ "$rc" -ne 0 ]; then
		echo "format: $cf failed (exit $rc):"
		head -20 <<<"$out"
		exit 2
	fi
	echo "format: ${#files[@]} files formatted as .clang-format says ($cf $version)"
	exit 0
fi
nbad=0
while read -r n f; do
	echo "$f: not formatted ($n places differ)"
	nbad=$((nbad + 1))
done <<<"$bad"
echo "format: $nbad of ${#files[@]} files need formatting; run: make format"
exit 1
