#!/bin/bash
# Builds the man page and the shell completions of compliance-watch, and checks each one.
# Usage: scripts/build-extras.sh COMPLIANCE_WATCH GENERATE_MANUAL OUT_DIR
set -euo pipefail
BIN=$1 GEN=$2 OUT=$3
mkdir -p "$OUT/man/man1" "$OUT/bash-completion/completions" "$OUT/zsh/site-functions" "$OUT/fish/vendor_completions.d"
"$GEN" "$BIN" --output-directory "$OUT/man/man1" --section 1 --authors "the compliance-watch authors" >/dev/null
# A completion is sourced, not run: no "#!" line (lintian: bash-completion-with-hashbang).
"$BIN" --generate-completion-script bash | sed '1{/^#!/d}' > "$OUT/bash-completion/completions/compliance-watch"
"$BIN" --generate-completion-script zsh > "$OUT/zsh/site-functions/_compliance-watch"
"$BIN" --generate-completion-script fish > "$OUT/fish/vendor_completions.d/compliance-watch.fish"

fail() { echo "extras: $*" >&2; exit 1; }
man -l "$OUT/man/man1/compliance-watch.1" 2>/dev/null | grep -q 'check-config' || fail "the man page does not render with every command"
bash -n "$OUT/bash-completion/completions/compliance-watch" || fail "the bash completion does not parse"
for f in "$OUT/bash-completion/completions/compliance-watch" "$OUT/zsh/site-functions/_compliance-watch" \
         "$OUT/fish/vendor_completions.d/compliance-watch.fish"; do
    for sub in run once status check-config test-sink deliveries audit; do grep -q -- "$sub" "$f" || fail "$f lacks $sub"; done
done
# Completion works end to end: bash offers the subcommands after "compliance-watch ".
words=$(bash -c "source '$OUT/bash-completion/completions/compliance-watch'
COMP_WORDS=(compliance-watch ''); COMP_CWORD=1; COMP_LINE='compliance-watch '; COMP_POINT=\${#COMP_LINE}
_compliance-watch 2>/dev/null || _compliance_watch 2>/dev/null; echo \"\${COMPREPLY[*]}\"")
for sub in run status deliveries; do [[ " $words " == *" $sub "* ]] || fail "bash completion does not offer $sub (got: $words)"; done
echo "extras: man page and bash, zsh and fish completions in $OUT (checked)"
