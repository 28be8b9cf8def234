/* plugin.c: loads a tree-attention kernel from a shared library (the deft_plugin_v1 ABI) and
 * wraps it as an implementation, so `deft check`, the tests and the fuzzers treat a user's kernel
 * exactly like the project's own paths. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
    deft_impl impl;    /* first, so the impl pointer is the struct's */
    void *handle;      /* dlopen handle */
    const deft_plugin_v1 *plugin;
    char name[64], summary[300];
} loaded_plugin;

static const deft_plugin_v1 *plugin_of(const deft_impl *self)
{
    return ((const loaded_plugin *)self->ctx)->plugin;
}

static deft_status plugin_supports(const deft_impl *self, const deft_problem *p, deft_diag *diag)
{
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    const deft_plugin_v1 *pl = plugin_of(self);
    char why[200] = "";
    if (pl->supports && pl->supports(p, why, sizeof why) != 0) {
        why[sizeof why - 1] = '\0';
        deft_diag_set(diag, DEFT_ERR_UNSUPPORTED, -1, "plugin %s declines: %s", self->name,
                      why[0] ? why : "(no reason given)");
        return DEFT_ERR_UNSUPPORTED;
    }
    return DEFT_OK;
}

static deft_status plugin_run(const deft_impl *self, const deft_problem *p, const deft_options *opt,
                              float *o, float *lse, deft_diag *diag)
{
    (void)opt;
    deft_status st = deft_problem_validate(p, diag);
    if (st != DEFT_OK) return st;
    if (deft_tree_total_q(&p->tree) > 0 && (!o || !lse)) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "plugin %s: output o or lse is NULL", self->name);
        return DEFT_ERR_NULL;
    }
    char why[200] = "";
    if (plugin_of(self)->run(p, o, lse, why, sizeof why) != 0) {
        why[sizeof why - 1] = '\0';
        deft_diag_set(diag, DEFT_ERR_PLUGIN, -1, "plugin %s failed: %s", self->name,
                      why[0] ? why : "(no reason given)");
        return DEFT_ERR_PLUGIN;
    }
    return DEFT_OK;
}

/* Splits "LIB.so:SYMBOL" at the last ':' that is followed by a symbol name (no '/'). */
static void split_spec(const char *spec, char *path, size_t path_len, char *sym, size_t sym_len)
{
    const char *colon = strrchr(spec, ':');
    if (colon && colon[1] && !strchr(colon, '/')) {
        snprintf(path, path_len, "%.*s", (int)(colon - spec), spec);
        snprintf(sym, sym_len, "%s", colon + 1);
    } else {
        snprintf(path, path_len, "%s", spec);
        snprintf(sym, sym_len, "deft_plugin");
    }
}

deft_status deft_plugin_open(const char *spec, const deft_impl **impl, deft_diag *diag)
{
    deft_diag_clear(diag);
    if (!spec || !impl) {
        deft_diag_set(diag, DEFT_ERR_NULL, -1, "plugin: spec or impl is NULL");
        return DEFT_ERR_NULL;
    }
    *impl = NULL;
    char path[4096], sym[256], local[4100];
    split_spec(spec, path, sizeof path, sym, sizeof sym);
    /* a bare file name means the file here, not a search of the library path */
    snprintf(local, sizeof local, "%s%s", strchr(path, '/') ? "" : "./", path);
    void *h = dlopen(local, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        deft_diag_set(diag, DEFT_ERR_PLUGIN, -1, "cannot load plugin %.100s: %.120s", path, e ? e : "unknown error");
        return DEFT_ERR_PLUGIN;
    }
    const deft_plugin_v1 *pl = (const deft_plugin_v1 *)dlsym(h, sym);
    const char *problem = NULL;
    char buf[512];
    if (!pl) {
        snprintf(buf, sizeof buf, "%.300s has no symbol '%.100s'", path, sym);
        problem = buf;
    } else if (pl->abi_version != DEFT_PLUGIN_ABI_VERSION) {
        snprintf(buf, sizeof buf, "%.300s:%.100s speaks plugin ABI version %u; this deft speaks %u", path, sym,
                 pl->abi_version, DEFT_PLUGIN_ABI_VERSION);
        problem = buf;
    } else if (pl->struct_size < sizeof(deft_plugin_v1) || !pl->run) {
        snprintf(buf, sizeof buf, "%.300s:%.100s is not a deft_plugin_v1 (struct size %u, run %s)", path, sym,
                 pl->struct_size, pl->run ? "set" : "NULL");
        problem = buf;
    }
    loaded_plugin *lp = problem ? NULL : calloc(1, sizeof *lp);
    if (problem || !lp) {
        dlclose(h);
        deft_diag_set(diag, problem ? DEFT_ERR_PLUGIN : DEFT_ERR_NO_MEMORY, -1, "%s",
                      problem ? problem : "plugin: out of memory");
        return problem ? DEFT_ERR_PLUGIN : DEFT_ERR_NO_MEMORY;
    }
    lp->handle = h;
    lp->plugin = pl;
    snprintf(lp->name, sizeof lp->name, "%.63s", pl->name && pl->name[0] ? pl->name : sym);
    snprintf(lp->summary, sizeof lp->summary, "plugin %.200s:%.80s", path, sym);
    lp->impl = (deft_impl){lp->name, lp->summary, plugin_supports, plugin_run, lp};
    *impl = &lp->impl;
    return DEFT_OK;
}

void deft_plugin_close(const deft_impl *impl)
{
    if (!impl || impl->supports != plugin_supports) return; /* not a loaded plugin */
    loaded_plugin *lp = (loaded_plugin *)impl->ctx;
    dlclose(lp->handle);
    free(lp);
}
