# shellcheck shell=bash disable=SC2034
# env.sh: the environment every fuzz script runs harnesses in (sourced by run.sh, replay.sh and
# mutants.sh). Two cores, maybe shared: no CPU pinning, no UI. OpenMP and OpenBLAS single-threaded:
# the harness library is built without OpenMP, and threads must not exist before AFL++ forks.
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export AFL_FAST_CAL=1 AFL_QUIET=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# Leaks are checked per input by the driver (driver.c), not at exit, where AFL++ would pin an
# exit-time report on whichever input ran last.
export ASAN_OPTIONS="abort_on_error=1:symbolize=0:detect_leaks=1:leak_check_at_exit=0:allocator_may_return_null=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=0"
# Replays run outside AFL++: symbolized reports and the usual leak check at exit too.
REPLAY_ASAN_OPTIONS="abort_on_error=1:symbolize=1:detect_leaks=1"
REPLAY_UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=1"

FUZZ_BUILD=${FUZZ_BUILD:-build/fuzz}

# Per-harness afl-fuzz options: hang timeout in ms ('+': skip seeds over it), dictionaries, and
# the CmpLog build of the parsers harness.
fuzz_afl_opts() {
    case $1 in
    parsers) echo "-t 1000+ -x fuzz/dict/npy.dict -x fuzz/dict/tree.dict -c $FUZZ_BUILD/fuzz_parsers.cmplog" ;;
    plan) echo "-t 2000+" ;;
    *) echo "-t 3000+" ;;
    esac
}

# One value of an AFL++ fuzzer_stats file ("key : value"), empty when absent.
fuzz_stat() {
    [ -f "$1" ] && awk -F' *: *' -v k="$2" '$1 == k { print $2; exit }' "$1"
}
