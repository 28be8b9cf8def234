#!/bin/sh
# install.sh: `make install PREFIX=...` gives a kernel author what they link against: deft.h,
# libdeft.a, libdeft.so, deft.pc and the deft program. A small C program built with
# `pkg-config --cflags --libs deft` (and again statically, with --static) generates a case, runs
# the CPU path and judges it.
set -eu
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
make -s install PREFIX="$prefix" >/dev/null
cat > "$prefix/user.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "deft.h"
int main(void)
{
    deft_case c;
    deft_diag d;
    deft_gen_options g;
    deft_gen_options_default(&g);
    g.hq = 4, g.hkv = 2, g.d = 16;
    if (deft_generate("tot", &g, &c, &d) != DEFT_OK) return 2;
    size_t rows = 270 * 4;
    float *o = malloc(rows * 16 * sizeof *o), *lse = malloc(rows * sizeof *lse);
    deft_reference ref;
    deft_report rep;
    if (deft_impl_run(deft_impl_find("cpu"), &c.problem, NULL, o, lse, &d) != DEFT_OK ||
        deft_reference_compute(&c.problem, &ref, &d) != DEFT_OK ||
        deft_compare(&ref, o, lse, NULL, &rep, &d) != DEFT_OK)
        return 2;
    printf("installed libdeft: cpu on tot %s\n", rep.pass ? "PASS" : "FAIL");
    return rep.pass ? 0 : 1;
}
C
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c99 "$prefix/user.c" $(pkg-config --cflags --libs deft) -o "$prefix/user"
"$prefix/user"
# statically: libdeft.a with Libs.private (OpenBLAS, and the CUDA runtime when built with CUDA)
cc -std=c99 "$prefix/user.c" $(pkg-config --cflags deft) -Wl,-Bstatic -ldeft -Wl,-Bdynamic \
    $(pkg-config --static --libs deft | sed 's/-ldeft//') -o "$prefix/user-static"
"$prefix/user-static"
"$prefix/bin/deft" impls >/dev/null
echo "install: 2 passed, 0 failed"
