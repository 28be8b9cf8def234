#!/usr/bin/env bash
# replay.sh: the corpora as regression tests. Each harness's replay build (no AFL++ fork server,
# ASan and UBSan, leak check at exit) runs every file of fuzz/corpus/<harness> and
# fuzz/regress/<harness>.
#   usage: fuzz/replay.sh HARNESS...
set -u
cd "$(dirname "$0")/.." || exit 2
. fuzz/env.sh
export ASAN_OPTIONS=$REPLAY_ASAN_OPTIONS UBSAN_OPTIONS=$REPLAY_UBSAN_OPTIONS

bad=0
for h in "$@"; do
    dirs=()
    for d in "fuzz/corpus/$h" "fuzz/regress/$h"; do [ -d "$d" ] && dirs+=("$d"); done
    if ! out=$("$FUZZ_BUILD/replay_$h" "${dirs[@]}" 2>&1); then
        echo "replay $h: FAILED"
        echo "$out" | tail -n 40 | sed 's/^/    /'
        bad=1
    else
        echo "replay $h: ok: ${out##*: } from ${dirs[*]}"
    fi
done
exit $bad
