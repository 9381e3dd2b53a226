#!/bin/bash
# SPDX-License-Identifier: MIT
# The completion scripts load without error and complete a verb, an option, a
# state name (also after a comma) and a network namespace name (from /run/netns).
# Usage: test_completion.sh SRCDIR (TCPSTATE = the binary to complete for)
set -uo pipefail
src=$1
comp=$src/contrib/completion
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# Missing pieces fail: a skip would hide every regression in the scripts.
[ -n "${TCPSTATE:-}" ] || { echo "FAIL: TCPSTATE is not set (run through meson test)" >&2; exit 1; }
bc=/usr/share/bash-completion/bash_completion
[ -r "$bc" ] || { echo "FAIL: bash-completion is not installed: run scripts/install-deps.sh" >&2; exit 1; }
bindir=$(mktemp -d)
ns=""
cleanup() { rm -rf "$bindir"; [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null; }
trap cleanup EXIT
ln -s "$(realpath "$TCPSTATE")" "$bindir/tcpstate"

# A namespace to complete, when we may make one.
if [ "$(id -u)" = 0 ] && ip netns add "tscomp-$$" 2>/dev/null; then
	ns=tscomp-$$
fi

out=$(PATH=$bindir:$PATH NS=$ns bash --norc --noprofile -c '
	set -u
	source '"$bc"' || exit 3
	source '"$comp"'/tcpstate || exit 4
	t() { # words...: prints the candidates for the last word
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
		_tcpstate tcpstate "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
		echo "$*|${COMPREPLY[*]}"
	}
	t tcpstate cl
	t tcpstate ""
	t tcpstate list --state close-w
	t tcpstate list -s estab,fin-wait-
	t tcpstate close --min-i
	t tcpstate close --how ""
	t tcpstate explain time
	t tcpstate lab --cl
	t tcpstate exporter --web
	[ -n "$NS" ] && t tcpstate list --netns "${NS%?}"
	exit 0
' 2>&1)
rc=$?
[ $rc = 0 ] || fail "bash: loading the completion failed (exit $rc): $out"
echo "$out"
want() { # line-prefix expected-candidates
	local got
	got=$(printf '%s\n' "$out" | grep -F -- "$1|" | head -1)
	[ "${got#*|}" = "$2" ] || fail "bash: '$1' completes to '${got#*|}', want '$2'"
}
want "tcpstate cl" "close"
want "tcpstate " "doctor summary list tune top trace close explain lab exporter metrics check demo"
want "tcpstate list --state close-w" "close-wait"
want "tcpstate list -s estab,fin-wait-" "estab,fin-wait-1 estab,fin-wait-2"
want "tcpstate close --min-i" "--min-idle"
want "tcpstate close --how " "rst fin fd"
want "tcpstate explain time" "time-wait"
want "tcpstate lab --cl" "--cleanup"
want "tcpstate exporter --web" "--web.config.file"
[ -n "$ns" ] && want "tcpstate list --netns ${ns%?}" "$ns"
printf '%s\n' "$out" | grep -q "bash: " && fail "bash printed an error: $out"

# zsh: the function loads through compinit and completes in a real line editor.
if command -v zsh >/dev/null; then
	# Keys are read in order: each TAB completes before the next keys are
	# seen, so no waiting is needed; reading until zsh exits has the deadline.
	zout=$(PATH=$bindir:$PATH timeout 60 zsh -f -c '
		zmodload zsh/zpty || exit 3
		zpty z zsh -f -i
		zpty -w z "PS1=\"> \"; fpath=('"$comp"' \$fpath); autoload -U compinit; compinit -u; bindkey -e"
		for line in "tcpstate cl" "tcpstate list --state close-w" "tcpstate explain time" "tcpstate exporter --web"; do
			zpty -w -n z "$line"$'"'"'\t'"'"'
			zpty -w z $'"'"'\C-aprint -r -- RESULT:'"'"'
		done
		zpty -w z exit
		while zpty -r z chunk; do print -rn -- $chunk; done
		zpty -d z
	' 2>&1 | tr -d '\r' | grep -a '^RESULT:')
	echo "$zout"
	for w in "tcpstate close" "tcpstate list --state close-wait" "tcpstate explain time-wait" \
		"tcpstate exporter --web.config.file"; do
		printf '%s\n' "$zout" | grep -qx "RESULT:$w *" || fail "zsh: no completion to '$w': $zout"
	done
else
	echo "zsh not installed: zsh completion not tested" >&2
fi

[ $fails = 0 ] || exit 1
echo "test_completion: all checks passed"
