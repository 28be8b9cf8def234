# lib.sh: what the shell tests share: pass/fail counting and `expect`, which runs a command and
# requires its exit code and a needle in its output (stdout and stderr together).
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect CODE WHAT NEEDLE -- COMMAND...
expect() {
    code=$1 what=$2 needle=$3
    shift 4
    out=$("$@" 2>&1)
    got=$?
    if [ "$got" -ne "$code" ]; then bad "$what: exit $got, want $code"; echo "$out" | tail -5; return; fi
    case "$out" in *"$needle"*) ok ;; *) bad "$what: output lacks '$needle'"; echo "$out" | tail -5 ;; esac
}

# summary NAME: prints "NAME: N passed, M failed" and fails when anything failed, or when nothing
# ran (a script whose checks were all skipped passes nothing)
summary() {
    echo "$1: $pass passed, $fail failed"
    if [ $((pass + fail)) -eq 0 ]; then echo "FAIL: $1: no check ran"; return 1; fi
    [ "$fail" -eq 0 ]
}
