#!/bin/bash
# make install / uninstall into a staging DESTDIR: the binary, the man page (rendering without
# warnings), the bash completion (loading, completing commands, options and group names) and
# the example configuration. And the man page and the completion stay true to --help: every
# command `nanocell --help` lists and every option each `nanocell CMD --help` lists is in both.
. "$(dirname "$0")/lib.sh"
root="$TMP/root"
BUILD=${NANOCELL_BUILD:-build}

run make --no-print-directory install DESTDIR="$root" PREFIX=/usr BIN="$NC" BUILD="$BUILD"
expect_rc "make install into DESTDIR succeeds" 0
for f in bin/nanocell:755 share/man/man1/nanocell.1:644 share/bash-completion/completions/nanocell:644 \
	share/doc/nanocell/config.example.toml:644 share/doc/nanocell/mount-allowlist.example.toml:644; do
	path="$root/usr/${f%%:*}"
	mode=$(stat -c %a "$path" 2>/dev/null)
	[ "$mode" = "${f##*:}" ] && ok "installs /usr/${f%%:*}, mode ${f##*:}" ||
		not_ok "installs /usr/${f%%:*}, mode ${f##*:}" "mode '$mode'"
done
cmp -s config.example.toml "$root/usr/share/doc/nanocell/config.example.toml" &&
	ok "the installed example configuration is the repository's" ||
	not_ok "the installed example configuration is the repository's"
run "$root/usr/bin/nanocell" --version
expect_match "the installed binary runs" "$OUT" "^nanocell [0-9]"
[ -z "$(find "$root" -path "$root/usr" -prune -o -print | grep -v "^$root\$")" ] &&
	ok "nothing is installed outside PREFIX" || not_ok "nothing is installed outside PREFIX"

man1="$root/usr/share/man/man1/nanocell.1"
if command -v groff >/dev/null && command -v man >/dev/null; then
	run groff -man -ww -z "$man1"
	[ "$RC" -eq 0 ] && [ -z "$ERR" ] && ok "the man page has no groff warnings" ||
		not_ok "the man page has no groff warnings" "$ERR"
	run env MANWIDTH=80 man --warnings -l "$man1"
	[ "$RC" -eq 0 ] && [ -z "$ERR" ] && ok "man -l renders it without warnings" ||
		not_ok "man -l renders it without warnings" "$ERR"
	for s in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS "ENGINE DISCOVERY" "EXIT STATUS" \
		ENVIRONMENT FILES; do
		expect_match "the man page has section $s" "$OUT" "^$s\$"
	done
else
	not_ok "groff and man are installed" "run scripts/install-deps.sh (groff-base, man-db)"
fi

comp_file="$root/usr/share/bash-completion/completions/nanocell"
run bash --norc --noprofile -c 'source "$1" && complete -p nanocell' _ "$comp_file"
expect_match "the completion loads and registers for nanocell" "$OUT" "complete -F _nanocell nanocell$"
# complete WORD...: what the completion offers for the last word, one per line, sorted.
complete_words() {
	bash --norc --noprofile -c 'source "$1"; shift; COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _nanocell; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$comp_file" "$@" | sort
}
[ "$(complete_words nanocell ru)" = run ] && ok "nanocell ru<TAB> completes to run" ||
	not_ok "nanocell ru<TAB> completes to run" "$(complete_words nanocell ru)"
[ "$(complete_words nanocell run --ti)" = --timeout ] && ok "run --ti<TAB> completes to --timeout" ||
	not_ok "run --ti<TAB> completes to --timeout" "$(complete_words nanocell run --ti)"
[ "$(complete_words nanocell policy c)" = check ] && ok "policy c<TAB> completes to check" ||
	not_ok "policy c<TAB> completes to check"
[ -z "$(complete_words nanocell run -- "the prom")" ] && ok "nothing is offered inside the prompt" ||
	not_ok "nothing is offered inside the prompt" "$(complete_words nanocell run -- "the prom")"
mkdir -p "$TMP/data/groups/main" "$TMP/data/groups/family" "$TMP/data/groups/friends"
printf '[install]\ndata_dir = "%s/data"\n' "$TMP" >"$TMP/config.toml"
got=$(NANOCELL_CONFIG=$TMP/config.toml complete_words nanocell run --group f | tr '\n' ' ')
[ "$got" = "family friends " ] && ok "--group completes the data dir's groups" ||
	not_ok "--group completes the data dir's groups" "got '$got'"
got=$(complete_words nanocell run --config "$TMP/config.toml" --group m | tr '\n' ' ')
[ "$got" = "main " ] && ok "--group reads the data dir from --config" ||
	not_ok "--group reads the data dir from --config" "got '$got'"
[ "$(complete_words nanocell groups s)" = show ] && ok "groups s<TAB> completes to show" ||
	not_ok "groups s<TAB> completes to show" "$(complete_words nanocell groups s)"
got=$(NANOCELL_CONFIG=$TMP/config.toml complete_words nanocell groups rm f | tr '\n' ' ')
[ "$got" = "family friends " ] && ok "groups rm completes the data dir's groups" ||
	not_ok "groups rm completes the data dir's groups" "got '$got'"

# Every command and option the help texts list, in the man page and the completion.
run "$NC" --help
commands=$(printf '%s\n' "$OUT" | sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$commands" ] && ok "nanocell --help lists commands" || not_ok "nanocell --help lists commands" "$OUT"
offered=$(complete_words nanocell "")
for c in $commands; do
	grep -qE "^(\.BI? \"?|\\\\fB)$c( |\"|\\\\|\$)" docs/nanocell.1 && ok "the man page describes '$c'" ||
		not_ok "the man page describes '$c'"
	printf '%s\n' "$offered" | grep -qx "$c" && ok "the completion offers '$c'" ||
		not_ok "the completion offers '$c'" "offered: $(echo $offered)"
	words=("$c")
	[ "$c" = policy ] && words=(policy check)
	help=$("$NC" "${words[@]}" --help 2>&1)
	opts=$(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
	[ -n "$opts" ] || not_ok "'$c --help' lists options" "$help"
	copts=$(complete_words nanocell "${words[@]}" --)
	synopsis=$(sed -n "/^\.B nanocell ${words[*]}\( \|\$\)/,/^\.br/p" docs/nanocell.1)
	for o in $opts; do
		printf '%s\n' "$synopsis" | grep -qF -- "${o//-/\\-}" &&
			ok "the man page's synopsis of '$c' has $o" ||
			not_ok "the man page's synopsis of '$c' has $o" "$synopsis"
		grep -qE -- "^\.BI? ${o//-/\\\\-}( |\$)" docs/nanocell.1 &&
			ok "the man page describes $o" || not_ok "the man page describes $o"
		printf '%s\n' "$copts" | grep -qx -- "$o" && ok "the completion offers '$c $o'" ||
			not_ok "the completion offers '$c $o'" "offered: $(echo $copts)"
	done
done

run make --no-print-directory uninstall DESTDIR="$root" PREFIX=/usr BIN="$NC" BUILD="$BUILD"
expect_rc "make uninstall succeeds" 0
left=$(find "$root" -type f)
[ -z "$left" ] && ok "make uninstall removes every installed file" ||
	not_ok "make uninstall removes every installed file" "$left"
done_testing
