/*
 * test_layering.c — the compiler's include graph runs one way.
 *
 * The compiler is a pipeline of stage folders (compiler/README.md):
 *
 *     back → opt → ir ← check → front → base
 *
 * A file may include headers of its own stage and of the stages that stage
 * depends on, directly or through others (base is below everything; the
 * driver, the .c files directly in compiler/, sits on top and may include all of them; the
 * grammar, grammar/klc.y and klc.l, belongs to front).  A header of a stage
 * is always included by its stage path ("ir/ir.h"), so the include says
 * which stage it reaches into.  And modules (x.c with its x.h) must not
 * include each other in a circle, inside a stage or across.
 *
 * layering_check() reads a source tree and reports every violation; the
 * tests run it on the real tree (no violation) and on small trees written
 * to scratch space that break each rule (so the check itself can fail).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_util.h"

/* ---------------------------------------------------------------------------
 * The rule
 * ------------------------------------------------------------------------- */

enum { ST_BASE, ST_FRONT, ST_IR, ST_CHECK, ST_OPT, ST_BACK, ST_TOP, ST__COUNT };

static const char *const stage_names[ST__COUNT] = {"base", "front", "ir", "check", "opt", "back", "driver"};

/* may[s] lists, as a bit set, the stages s may include (itself among them). */
#define B(s) (1u << (s))
static const unsigned may[ST__COUNT] = {
    [ST_BASE] = B(ST_BASE),
    [ST_FRONT] = B(ST_FRONT) | B(ST_BASE),
    [ST_IR] = B(ST_IR) | B(ST_BASE),
    [ST_CHECK] = B(ST_CHECK) | B(ST_FRONT) | B(ST_IR) | B(ST_BASE),
    [ST_OPT] = B(ST_OPT) | B(ST_IR) | B(ST_BASE),
    [ST_BACK] = B(ST_BACK) | B(ST_OPT) | B(ST_IR) | B(ST_BASE),
    [ST_TOP] = B(ST_TOP) | B(ST_BACK) | B(ST_OPT) | B(ST_CHECK) | B(ST_IR) | B(ST_FRONT) | B(ST_BASE),
};
#undef B

static int stage_of_dir(const char *name)
{
    for (int s = 0; s < ST_TOP; s++)
        if (!strcmp(name, stage_names[s]))
            return s;
    return -1;
}

/* ---------------------------------------------------------------------------
 * The tree
 * ------------------------------------------------------------------------- */

#define MAX_FILES 512
#define MAX_INCLUDES 64

typedef struct File {
    char path[256];           /* relative to the root: "compiler/ir/ir.c" */
    int stage;
    char module[128];         /* "ir/ir"; "driver", "grammar" */
    int n_inc;
    char inc[MAX_INCLUDES][128]; /* the quoted includes, as written */
    int inc_line[MAX_INCLUDES];
} File;

typedef struct Tree {
    const char *root;
    int n;
    File files[MAX_FILES];
    char report[16384];
    size_t len;
    int violations;
} Tree;

static void report(Tree *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (t->len < sizeof t->report) {
        int k = vsnprintf(t->report + t->len, sizeof t->report - t->len, fmt, ap);
        if (k > 0)
            t->len += (size_t)k < sizeof t->report - t->len ? (size_t)k : sizeof t->report - t->len - 1;
    }
    va_end(ap);
    t->violations++;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Read the quoted #include lines of one file. */
static void read_file(Tree *t, const char *rel, int stage, const char *module)
{
    assert_true(t->n < MAX_FILES);
    File *f = &t->files[t->n++];
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", rel);
    snprintf(f->module, sizeof f->module, "%s", module);
    f->stage = stage;
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", t->root, rel);
    FILE *in = fopen(full, "r");
    assert_non_null(in);
    char line[1024];
    for (int lineno = 1; fgets(line, sizeof line, in); lineno++) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "#include", 8))
            continue;
        p += 8;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '"')
            continue;
        const char *end = strchr(p + 1, '"');
        if (!end || f->n_inc == MAX_INCLUDES)
            continue;
        snprintf(f->inc[f->n_inc], sizeof f->inc[0], "%.*s", (int)(end - p - 1), p + 1);
        f->inc_line[f->n_inc++] = lineno;
    }
    fclose(in);
}

/* Every .c/.h (and, for the grammar, .y/.l) file directly in root/dir. */
static void read_dir(Tree *t, const char *dir, int stage, const char *prefix, bool grammar)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/%s", t->root, dir);
    DIR *d = opendir(full);
    if (!d)
        return;
    /* sorted, so reports are stable (qsort with strcmp: rows of chars) */
    char names[MAX_FILES][128];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < MAX_FILES;) {
        bool src = grammar ? has_suffix(e->d_name, ".y") || has_suffix(e->d_name, ".l")
                           : has_suffix(e->d_name, ".c") || has_suffix(e->d_name, ".h");
        size_t len = strlen(e->d_name);
        if (src && len < sizeof names[0])
            memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < n; i++) {
        char rel[256], module[128];
        snprintf(rel, sizeof rel, "%.100s/%.120s", dir, names[i]);
        if (grammar)
            snprintf(module, sizeof module, "grammar");
        else if (prefix)
            snprintf(module, sizeof module, "%s/%.*s", prefix, (int)strlen(names[i]) - 2, names[i]);
        else
            snprintf(module, sizeof module, "%.*s", (int)strlen(names[i]) - 2, names[i]);
        read_file(t, rel, stage, module);
    }
}

static void read_tree(Tree *t, const char *root)
{
    memset(t, 0, sizeof *t);
    t->root = root;
    for (int s = 0; s < ST_TOP; s++) {
        char dir[64];
        snprintf(dir, sizeof dir, "compiler/%s", stage_names[s]);
        read_dir(t, dir, s, stage_names[s], false);
    }
    read_dir(t, "compiler", ST_TOP, NULL, false);
    read_dir(t, "grammar", ST_FRONT, NULL, true);
}

/* ---------------------------------------------------------------------------
 * The checks
 * ------------------------------------------------------------------------- */

static int find_module(const Tree *t, const char *module)
{
    for (int i = 0; i < t->n; i++)
        if (!strcmp(t->files[i].module, module))
            return i;
    return -1;
}

/* The stage an include reaches into (-1: not a compiler header: the runtime's,
 * the generated parser's, the prelude), and its module. */
static int include_stage(const Tree *t, const File *f, const char *inc, char *module, size_t cap)
{
    const char *slash = strchr(inc, '/');
    if (slash) {
        char dir[64];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - inc), inc);
        int s = stage_of_dir(dir);
        if (s >= 0 && has_suffix(inc, ".h")) {
            snprintf(module, cap, "%.*s", (int)strlen(inc) - 2, inc);
            return s;
        }
        return -1;
    }
    /* a bare name: the driver's own header, or something outside the compiler */
    if (f->stage == ST_TOP && has_suffix(inc, ".h")) {
        snprintf(module, cap, "%.*s", (int)strlen(inc) - 2, inc);
        if (find_module(t, module) >= 0)
            return ST_TOP;
    }
    return -1;
}

static void check_includes(Tree *t)
{
    for (int i = 0; i < t->n; i++) {
        const File *f = &t->files[i];
        for (int k = 0; k < f->n_inc; k++) {
            const char *inc = f->inc[k];
            char module[128];
            int s = include_stage(t, f, inc, module, sizeof module);
            if (s < 0) {
                /* a bare name that is a compiler header: a stage's must be
                 * written with its stage; the driver's is out of reach */
                if (!strchr(inc, '/'))
                    for (int j = 0; j < t->n; j++) {
                        const char *base = strrchr(t->files[j].path, '/');
                        if (!base || strcmp(base + 1, inc))
                            continue;
                        if (t->files[j].stage != ST_TOP)
                            report(t, "%s:%d: includes \"%s\" without its stage: write \"%s\"\n", f->path,
                                   f->inc_line[k], inc, t->files[j].path + strlen("compiler/"));
                        else if (f->stage != ST_TOP)
                            report(t, "%s:%d: %s includes the driver's \"%s\": stages depend one way only\n",
                                   f->path, f->inc_line[k], stage_names[f->stage], inc);
                    }
                continue;
            }
            char header[512];
            snprintf(header, sizeof header, "%s/compiler/%s", t->root, inc);
            struct stat st;
            if (stat(header, &st) != 0)
                report(t, "%s:%d: includes \"%s\", which does not exist\n", f->path, f->inc_line[k], inc);
            if (!(may[f->stage] & (1u << s)))
                report(t, "%s:%d: %s includes \"%s\" of %s: stages depend one way only "
                       "(back -> opt -> ir <- check -> front -> base)\n",
                       f->path, f->inc_line[k], stage_names[f->stage], inc, stage_names[s]);
        }
    }
}

/* Module graph: an edge A -> B when a file of A includes B's header. */
#define MAX_MODULES MAX_FILES

typedef struct Graph {
    int n;
    char name[MAX_MODULES][128];
    unsigned char edge[MAX_MODULES][MAX_MODULES];
    int color[MAX_MODULES];   /* 0 new, 1 on the stack, 2 done */
    int stack[MAX_MODULES];
    int depth;
} Graph;

static int graph_node(Graph *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->name[i], name))
            return i;
    assert_true(g->n < MAX_MODULES);
    snprintf(g->name[g->n], sizeof g->name[0], "%s", name);
    return g->n++;
}

static void dfs(Tree *t, Graph *g, int u)
{
    g->color[u] = 1;
    g->stack[g->depth++] = u;
    for (int v = 0; v < g->n; v++) {
        if (!g->edge[u][v] || v == u)
            continue;
        if (g->color[v] == 1) {
            char cycle[2048] = "";
            size_t len = 0;
            int from = 0;
            while (g->stack[from] != v)
                from++;
            for (int i = from; i < g->depth && len < sizeof cycle; i++)
                len += (size_t)snprintf(cycle + len, sizeof cycle - len, "%s -> ", g->name[g->stack[i]]);
            report(t, "include cycle: %s%s\n", cycle, g->name[v]);
        } else if (g->color[v] == 0) {
            dfs(t, g, v);
        }
    }
    g->depth--;
    g->color[u] = 2;
}

static void check_cycles(Tree *t)
{
    Graph *g = calloc(1, sizeof *g);
    assert_non_null(g);
    for (int i = 0; i < t->n; i++)
        graph_node(g, t->files[i].module);
    for (int i = 0; i < t->n; i++) {
        const File *f = &t->files[i];
        int u = graph_node(g, f->module);
        for (int k = 0; k < f->n_inc; k++) {
            char module[128];
            if (include_stage(t, f, f->inc[k], module, sizeof module) >= 0 && find_module(t, module) >= 0)
                g->edge[u][graph_node(g, module)] = 1;
        }
    }
    for (int u = 0; u < g->n; u++)
        if (g->color[u] == 0)
            dfs(t, g, u);
    free(g);
}

/* Violations found in the tree at root; their report in t->report. */
static int layering_check(Tree *t, const char *root)
{
    read_tree(t, root);
    check_includes(t);
    check_cycles(t);
    return t->violations;
}

/* ---------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------- */

static void test_the_compiler(void **state)
{
    (void)state;
    const char *root = getenv("KLC_SOURCE_DIR");
    assert_non_null(root);
    Tree *t = calloc(1, sizeof *t);
    assert_non_null(t);
    int n = layering_check(t, root);
    if (n)
        fail_msg("%d layering violation(s):\n%s", n, t->report);
    /* the tree was really read: every stage has files */
    int per_stage[ST__COUNT] = {0};
    for (int i = 0; i < t->n; i++)
        per_stage[t->files[i].stage]++;
    for (int s = 0; s < ST__COUNT; s++)
        if (per_stage[s] == 0)
            fail_msg("no source files found for stage %s under %s/compiler", stage_names[s], root);
    free(t);
}

/* A small tree: path -> contents, written under the scratch directory. */
static void write_tree(const char *dir, const char *const *files)
{
    for (int i = 0; files[i]; i += 2) {
        char path[1024];
        snprintf(path, sizeof path, "%.700s/%.300s", dir, files[i]);
        char parent[1024];
        memcpy(parent, path, sizeof parent);
        *strrchr(parent, '/') = '\0';
        assert_int_equal(test_mkdir_p(parent), 0);
        write_bytes(path, files[i + 1], strlen(files[i + 1]));
    }
}

static int check_fixture(const char *name, const char *const *files, Tree *t)
{
    char dir[1024];
    scratch(dir, sizeof dir, name);
    write_tree(dir, files);
    return layering_check(t, dir);
}

static void expect_violations(const Tree *t, int got, int want)
{
    if (got != want)
        fail_msg("%d violation(s), expected %d:\n%s", got, want, t->report);
}

static void test_fixtures(void **state)
{
    (void)state;
    Tree *t = calloc(1, sizeof *t);
    assert_non_null(t);

    static const char *const good[] = {
        "compiler/base/arena.h", "",
        "compiler/ir/ir.h", "#include \"base/arena.h\"\n",
        "compiler/opt/fuse.c", "#include \"opt/fuse.h\"\n#include \"ir/ir.h\"\n",
        "compiler/opt/fuse.h", "#include \"ir/ir.h\"\n",
        "compiler/driver.c", "#include \"driver.h\"\n#include \"opt/fuse.h\"\n#include \"klc/runtime.h\"\n",
        "compiler/driver.h", "",
        NULL};
    expect_violations(t, check_fixture("good", good, t), 0);

    /* ir reaching up into opt (which includes ir: a circle as well) */
    static const char *const upward[] = {
        "compiler/ir/ir.h", "",
        "compiler/ir/ir.c", "#include \"ir/ir.h\"\n\n#include \"opt/fuse.h\"\n",
        "compiler/opt/fuse.h", "#include \"ir/ir.h\"\n",
        NULL};
    expect_violations(t, check_fixture("upward", upward, t), 2);
    assert_non_null(strstr(t->report, "compiler/ir/ir.c:3: ir includes \"opt/fuse.h\" of opt"));
    assert_non_null(strstr(t->report, "include cycle: ir/ir -> opt/fuse -> ir/ir"));

    /* check and opt know nothing of each other */
    static const char *const sideways[] = {
        "compiler/check/eval.c", "#include \"opt/fuse.h\"\n",
        "compiler/opt/fuse.h", "",
        NULL};
    expect_violations(t, check_fixture("sideways", sideways, t), 1);

    /* a stage's header named without its stage */
    static const char *const bare[] = {
        "compiler/opt/fuse.c", "#include \"simplify.h\"\n",
        "compiler/opt/simplify.h", "",
        NULL};
    expect_violations(t, check_fixture("bare", bare, t), 1);
    assert_non_null(strstr(t->report, "write \"opt/simplify.h\""));

    /* a header that is not there */
    static const char *const missing[] = {
        "compiler/opt/fuse.c", "#include \"ir/nothing.h\"\n",
        NULL};
    expect_violations(t, check_fixture("missing", missing, t), 1);

    /* two modules of one stage including each other */
    static const char *const cycle[] = {
        "compiler/opt/fuse.h", "",
        "compiler/opt/fuse.c", "#include \"opt/fuse.h\"\n#include \"opt/simplify.h\"\n",
        "compiler/opt/simplify.h", "",
        "compiler/opt/simplify.c", "#include \"opt/simplify.h\"\n#include \"opt/fuse.h\"\n",
        NULL};
    expect_violations(t, check_fixture("cycle", cycle, t), 1);
    assert_non_null(strstr(t->report, "include cycle: opt/fuse -> opt/simplify -> opt/fuse"));

    /* a longer circle through three modules */
    static const char *const ring[] = {
        "compiler/check/a.h", "#include \"check/b.h\"\n",
        "compiler/check/b.c", "#include \"check/c.h\"\n",
        "compiler/check/b.h", "",
        "compiler/check/c.h", "",
        "compiler/check/c.c", "#include \"check/a.h\"\n",
        NULL};
    expect_violations(t, check_fixture("ring", ring, t), 1);
    assert_non_null(strstr(t->report, "check/a -> check/b -> check/c -> check/a"));
    free(t);
}

/* The include guard of a header: the name after its first #ifndef. */
static bool header_guard(const char *path, char *out, size_t cap)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, in))
        found = sscanf(line, "#ifndef %127s", out) == 1 && cap > 127;
    fclose(in);
    return found;
}

/* Every header of the compiler and the runtime has a guard of its own (the
 * compiler's model.h and the runtime's once shared KLC_MODEL_H: whichever
 * was included second was silently empty). */
static void test_guards(void **state)
{
    (void)state;
    const char *root = getenv("KLC_SOURCE_DIR");
    assert_non_null(root);
    static const char *const dirs[] = {"compiler",    "compiler/base", "compiler/front", "compiler/check",
                                       "compiler/ir", "compiler/opt",  "compiler/back",  "runtime",
                                       "runtime/include/klc"};
    enum { MAX_HEADERS = 256 };
    static char guards[MAX_HEADERS][128], owners[MAX_HEADERS][256];
    int n = 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%.900s/%s", root, dirs[i]);
        DIR *d = opendir(dir);
        assert_non_null(d);
        for (struct dirent *e; (e = readdir(d));) {
            if (!has_suffix(e->d_name, ".h"))
                continue;
            char path[1300];
            snprintf(path, sizeof path, "%s/%.200s", dir, e->d_name);
            assert_true(n < MAX_HEADERS);
            if (!header_guard(path, guards[n], sizeof guards[n]))
                fail_msg("%s has no include guard", path);
            snprintf(owners[n], sizeof owners[n], "%s/%.200s", dirs[i], e->d_name);
            for (int j = 0; j < n; j++)
                if (!strcmp(guards[j], guards[n]))
                    fail_msg("%s and %s share the include guard %s", owners[j], owners[n], guards[n]);
            n++;
        }
        closedir(d);
    }
    assert_true(n > 30); /* the tree was really read */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guards),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_the_compiler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
