/*
 * test_robust.c — klc never crashes, hangs or leaks, whatever the input.
 *
 * Thousands of inputs go through the checker in process
 * (driver_check_source): empty and binary files, every .kl file of
 * examples/ and tests/ (found at run time under $KLC_SOURCE_DIR) cut at many
 * lengths and mutated byte by byte and token by token, and generated
 * extremes (nesting thousands deep, megabyte lines and identifiers, huge
 * literals, thousands of layers, exponential defs, imports of devices).
 * Each input must end as "ok" (status 0, no error) or "errors reported"
 * (status 1, at least one "error:" printed).
 *
 * The inputs run in forked children, a batch per child, each input under an
 * alarm(): a crash or a sanitizer report kills the child, a hang is killed by
 * SIGALRM, and a leak makes LeakSanitizer fail the child's exit in the ASan
 * build.  The child keeps the current input in shared memory, so the parent
 * can name it and save it to $KLC_TEST_TMPDIR/robust-failure-*.kl.
 *
 * KLC_ROBUST_SCALE=k multiplies the number of mutations (longer private
 * runs); KLC_ROBUST_SEED changes the pseudo-random choices.
 */
#define _XOPEN_SOURCE 700 /* fork, mmap, open_memstream, alarm */
#define _DEFAULT_SOURCE    /* MAP_ANONYMOUS */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driver.h"

#define BUDGET_SECONDS 20       /* per input; a normal one takes milliseconds */
#define KEEP_BYTES (4u << 20)   /* an input is kept for the failure report up to this size */

/* ------------------------------------------------------------------------
 * Shared state between the parent and the child running a batch
 * --------------------------------------------------------------------- */

typedef struct Shared {
    char desc[512];             /* the input being checked */
    char path[1024];
    size_t len;                 /* its size; bytes[] holds it when len <= KEEP_BYTES */
    long done;                  /* inputs checked so far in this batch */
    char problem[1024];         /* set by the child for a wrong result */
    unsigned char bytes[];
} Shared;

static Shared *shared;
static unsigned long long rng_state;
static int scale = 1;

static unsigned long long rnd(void)
{
    /* xorshift64*: fixed seed, so failures reproduce */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* ------------------------------------------------------------------------
 * Checking one input (in the child)
 * --------------------------------------------------------------------- */

/* Runs the checker on text; a wrong outcome ends the child with status 3. */
static void check(const char *path, const char *text, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(shared->desc, sizeof shared->desc, fmt, ap);
    va_end(ap);
    snprintf(shared->path, sizeof shared->path, "%s", path);
    shared->len = len;
    if (len <= KEEP_BYTES)
        memcpy(shared->bytes, text, len);

    char *out = NULL;
    size_t out_len = 0;
    FILE *diag = open_memstream(&out, &out_len);
    if (!diag) {
        snprintf(shared->problem, sizeof shared->problem, "open_memstream: %s", strerror(errno));
        exit(3);
    }
    int n_errors = -1;
    alarm(BUDGET_SECONDS);
    int status = driver_check_source(path, text, len, diag, &n_errors);
    alarm(0);
    fclose(diag);
    if (status != 0 && status != 1)
        snprintf(shared->problem, sizeof shared->problem, "status %d (want 0 or 1)", status);
    else if (status == 1 && (n_errors < 1 || !strstr(out, "error:")))
        snprintf(shared->problem, sizeof shared->problem,
                 "status 1 but %d errors counted and no \"error:\" printed; output: %.300s", n_errors, out);
    else if (status == 0 && n_errors != 0)
        snprintf(shared->problem, sizeof shared->problem, "status 0 with %d errors", n_errors);
    free(out);
    if (shared->problem[0])
        exit(3);
    shared->done++;
}

/* Runs gen(ctx) in a child; fails the test if the child does not finish cleanly. */
static void run_batch(const char *name, void (*gen)(void *), void *ctx)
{
    memset(shared, 0, sizeof *shared);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka catches these to go on with the next test: here they must end the child */
        const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        gen(ctx);
        exit(0); /* exit, not _exit: LeakSanitizer checks the whole batch here */
    }
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
        continue;
    if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
        return;

    /* keep the input for the report */
    char saved[4096] = "";
    const char *dir = getenv("KLC_TEST_TMPDIR");
    if (shared->len <= KEEP_BYTES && dir && *dir) {
        mkdir(dir, 0777);
        static int n_failures;
        snprintf(saved, sizeof saved, "%s/robust-failure-%d.kl", dir, ++n_failures);
        FILE *f = fopen(saved, "wb");
        if (f) {
            fwrite(shared->bytes, 1, shared->len, f);
            fclose(f);
        } else {
            saved[0] = '\0';
        }
    }
    char what[1400];
    if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGALRM)
        snprintf(what, sizeof what, "did not finish within %d s (a hang)", BUDGET_SECONDS);
    else if (WIFSIGNALED(ws))
        snprintf(what, sizeof what, "crashed with signal %d", WTERMSIG(ws));
    else if (WEXITSTATUS(ws) == 3)
        snprintf(what, sizeof what, "gave a wrong result: %s", shared->problem);
    else
        snprintf(what, sizeof what, "exited with status %d (a sanitizer report, or a leak if all %ld inputs "
                 "passed: see the output above)", WEXITSTATUS(ws), shared->done);
    fail_msg("batch '%s': input %ld \"%s\" (%zu bytes, as %s) %s%s%s", name, shared->done + 1, shared->desc,
             shared->len, shared->path, what, saved[0] ? "; saved to " : "", saved);
}

/* ------------------------------------------------------------------------
 * Source files
 * --------------------------------------------------------------------- */

typedef struct File {
    char *path;
    char *text;
    size_t len;
} File;

static File *files;
static int n_files;

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap)
            buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static void add_files(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d || depth > 8) {
        if (d)
            closedir(d);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            add_files(path, depth + 1);
            continue;
        }
        size_t n = strlen(de->d_name);
        if (!S_ISREG(st.st_mode) || n < 4 || strcmp(de->d_name + n - 3, ".kl") != 0)
            continue;
        File f = {strdup(path), NULL, 0};
        f.text = read_all(path, &f.len);
        if (!f.text)
            continue;
        files = realloc(files, sizeof *files * (size_t)(n_files + 1));
        files[n_files++] = f;
    }
    closedir(d);
}

static int cmp_files(const void *a, const void *b)
{
    return strcmp(((const File *)a)->path, ((const File *)b)->path);
}

/* A path for generated inputs: imports resolve beside it. */
static char gen_path[4096];

static int setup(void **state)
{
    (void)state;
    const char *src = getenv("KLC_SOURCE_DIR");
    if (!src || !*src) {
        fprintf(stderr, "test_robust: set KLC_SOURCE_DIR to the source tree\n");
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/examples", src);
    add_files(dir, 0);
    snprintf(dir, sizeof dir, "%s/tests", src);
    add_files(dir, 0);
    qsort(files, (size_t)n_files, sizeof *files, cmp_files);
    snprintf(gen_path, sizeof gen_path, "%s/tests/generated.kl", src);
    const char *s = getenv("KLC_ROBUST_SCALE");
    if (s && atoi(s) > 0)
        scale = atoi(s);
    const char *seed = getenv("KLC_ROBUST_SEED");
    rng_state = 0x9E3779B97F4A7C15ULL ^ (seed ? strtoull(seed, NULL, 10) : 0);
    shared = mmap(NULL, sizeof *shared + KEEP_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return shared == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_files; i++) {
        free(files[i].path);
        free(files[i].text);
    }
    free(files);
    munmap(shared, sizeof *shared + KEEP_BYTES);
    return 0;
}

/* ------------------------------------------------------------------------
 * A growable buffer for generated programs
 * --------------------------------------------------------------------- */

typedef struct Buf {
    char *s;
    size_t len, cap;
} Buf;

static void put(Buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(Buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void printf_(Buf *b, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void repeat(Buf *b, const char *s, int n)
{
    for (int i = 0; i < n; i++)
        puts_(b, s);
}

/* Check b's text, then empty b. */
static void check_buf(Buf *b, const char *desc)
{
    check(gen_path, b->s ? b->s : "", b->len, "%s", desc);
    b->len = 0;
    if (b->s)
        b->s[0] = '\0';
}

/* ------------------------------------------------------------------------
 * Batches
 * --------------------------------------------------------------------- */

static void gen_trivial(void *ctx)
{
    (void)ctx;
    check(gen_path, "", 0, "empty file");
    const char *small[] = {" ", "\n", "\n\n\n", "\t\r\n\f\v", "# only a comment", "#", ";", ";;;;", "}", "{", "(",
                           ")", "[", "]", "\"", "'", "\\", "...", "@", "?", ":", "=", "x", "1", "1.", ".5", "1e",
                           "1e+", "0x1F", "x = ", "layer", "layer L", "layer L(", "layer L() {", "call", "build",
                           "def", "import", "import \"", "sum[", "sum[i](", "max", "\xEF\xBB\xBFx = 1;", "x = 1;\r\n",
                           "x = \"\\q\";", "x = \"a\\", "x = 'unterminated", "\xff\xfe", "\xc3\xa9 = 1;",
                           "x = 1; # \xe2\x82\xac\n", "if true { }", "return 1;", "x[i] = 1;", "Sequential([])",
                           "m = Sequential();", "m = Sequential([]);", "m = Sequential([Input(shape = [])]);",
                           "m.compile();", "Input(shape = [3]);"};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++)
        check(gen_path, small[i], strlen(small[i]), "tiny input \"%s\"", small[i]);
    for (int c = 0; c < 256; c++) {
        char one[2] = {(char)c, 0};
        check(gen_path, one, 1, "the single byte 0x%02x", c);
    }
    char nul[] = "x = 1;\0y = 2;\0";
    check(gen_path, nul, sizeof nul - 1, "NUL bytes between statements");
    char nul_str[] = "x = \"a\0b\";";
    check(gen_path, nul_str, sizeof nul_str - 1, "a NUL byte inside a string");
}

static void gen_garbage(void *ctx)
{
    (void)ctx;
    int n = 48 * scale;
    char *buf = malloc(8192);
    for (int i = 0; i < n; i++) {
        size_t len = 1 + rnd_below(i < n / 2 ? 256 : 8192);
        for (size_t k = 0; k < len; k++)
            buf[k] = (char)rnd();
        check(gen_path, buf, len, "random bytes #%d", i);
        for (size_t k = 0; k < len; k++) /* printable ASCII and newlines */
            buf[k] = rnd_below(16) == 0 ? '\n' : (char)(32 + rnd_below(95));
        check(gen_path, buf, len, "random printable text #%d", i);
    }
    free(buf);
    /* random sequences of the language's tokens: syntax errors everywhere, deep structures */
    static const char *const toks[] = {"layer", "L", "(", ")", "{", "}", "[", "]", "build", "call", "x", ":",
                                       "[N, D]", ",", "=", ";", "return", "x @ w", "+", "-", "*", "/", "//", "%",
                                       "**", "@", "?", "if", "else", "true", "false", "None", "def", "f", "sum",
                                       "max", "mean", "min", "1", "2.5", "\"s\"", "...", "_", "n", "i", "!", "&&",
                                       "||", "==", "<", ">=", "add_weight(shape = [D, 3])", "Sequential", "Input",
                                       "Dense", "relu", "training", ".", "compile", "fit", "\n", "import"};
    Buf b = {0};
    for (int i = 0; i < 48 * scale; i++) {
        int len = 1 + (int)rnd_below(400);
        for (int k = 0; k < len; k++) {
            puts_(&b, toks[rnd_below(sizeof toks / sizeof toks[0])]);
            puts_(&b, " ");
        }
        check_buf(&b, "random tokens");
    }
    free(b.s);
    /* one megabyte of random bytes: about a hundred thousand errors */
    size_t big = 1 << 20;
    char *m = malloc(big);
    for (size_t k = 0; k < big; k++)
        m[k] = (char)rnd();
    check(gen_path, m, big, "a megabyte of random bytes");
    free(m);
}

/* Byte-level and token-level mutations of one file. */
static const char *const inserts[] = {"(", ")", "[", "]", "{", "}", "@", "sum[", "max[", "mean[a: 3](", ";", ",",
                                      "=", ":", "...", "**", "//", "?", "#", "\"", "'", "\n", "0", "-1",
                                      "9223372036854775807", "99999999999999999999", "1e999", "N", "_", "x", "None",
                                      "training", "if true {", "} else {", "return ", "layer L() { call(x) = x; }",
                                      "add_weight(shape = [0])", "Flatten()", "Dense(0)", "Input(shape = [-1])",
                                      "import \"seed.kl\";", "import \"/dev/zero\";", "def f(x) = f(x) + f(x);"};

static void mutate_file(void *ctx)
{
    const File *f = ctx;
    size_t len = f->len;
    check(f->path, f->text, len, "%s as it is", f->path);
    /* truncations: many lengths, denser near the start */
    int n_cut = (n_files ? 400 / n_files : 64) * scale;
    if (n_cut < 8 * scale)
        n_cut = 8 * scale;
    if (n_cut > 96 * scale)
        n_cut = 96 * scale;
    for (int i = 1; i <= n_cut && len > 0; i++) {
        size_t cut = i <= n_cut / 4 ? (size_t)i * len / 4 / (size_t)(n_cut / 4 + 1) : (size_t)i * len / (size_t)n_cut;
        check(f->path, f->text, cut, "%s cut to %zu bytes", f->path, cut);
    }
    int n_mut = (n_files ? 1200 / n_files : 160) * scale;
    if (n_mut < 16 * scale)
        n_mut = 16 * scale;
    if (n_mut > 160 * scale)
        n_mut = 160 * scale;
    char *m = malloc(len * 2 + 256);
    for (int i = 0; i < n_mut; i++) {
        size_t n = len, at = rnd_below(len + 1);
        memcpy(m, f->text, len);
        const char *what;
        switch (rnd_below(8)) {
        case 0: /* flip a bit */
            if (at < n)
                m[at] ^= (char)(1 << rnd_below(8));
            what = "bit flip";
            break;
        case 1: /* delete a run */ {
            size_t k = 1 + rnd_below(8);
            if (at + k > n)
                k = n - at;
            memmove(m + at, m + at + k, n - at - k);
            n -= k;
            what = "deletion";
            break;
        }
        case 2: /* duplicate a run */ {
            size_t k = 1 + rnd_below(len < 64 ? len + 1 : 64);
            if (at + k > n)
                k = n - at;
            memmove(m + at + k, m + at, n - at);
            n += k;
            what = "duplication";
            break;
        }
        case 3: /* replace a byte with punctuation */
            if (at < n)
                m[at] = "()[]{};,=:@.?!-+*/<>\"'#"[rnd_below(24)];
            what = "punctuation";
            break;
        default: /* insert a token, where it makes syntax errors or, often, another valid program */ {
            const char *t = inserts[rnd_below(sizeof inserts / sizeof inserts[0])];
            size_t k = strlen(t);
            if (rnd_below(2)) /* at a token boundary */
                while (at < n && ((m[at] >= 'a' && m[at] <= 'z') || (m[at] >= 'A' && m[at] <= 'Z') ||
                                  (m[at] >= '0' && m[at] <= '9') || m[at] == '_'))
                    at++;
            memmove(m + at + k, m + at, n - at);
            memcpy(m + at, t, k);
            n += k;
            what = "insertion";
            break;
        }
        }
        check(f->path, m, n, "%s with a %s at byte %zu (mutation %d)", f->path, what, at, i);
    }
    /* token-level: numbers replaced by extreme ones; a valid program stays valid more often */
    static const char *const numbers[] = {"0", "1", "-1", "2", "1000000", "9223372036854775807", "4611686018427387904",
                                          "1e308", "1e-320", "0.0", "-0.5", "3000000000"};
    for (int i = 0; i < n_mut / 4; i++) {
        size_t starts[256];
        int ns = 0;
        for (size_t k = 0; k < len && ns < 256; k++)
            if (f->text[k] >= '0' && f->text[k] <= '9' && (k == 0 || !strchr("_abcdefghijklmnopqrstuvwxyz"
                                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.",
                                                                               f->text[k - 1])))
                starts[ns++] = k;
        if (ns == 0)
            break;
        size_t at = starts[rnd_below((size_t)ns)], end = at;
        while (end < len && ((f->text[end] >= '0' && f->text[end] <= '9') || f->text[end] == '.'))
            end++;
        const char *r = numbers[rnd_below(sizeof numbers / sizeof numbers[0])];
        size_t k = strlen(r);
        memcpy(m, f->text, at);
        memcpy(m + at, r, k);
        memcpy(m + at + k, f->text + end, len - end);
        check(f->path, m, at + k + len - end, "%s with the number at byte %zu replaced by %s", f->path, at, r);
    }
    /* lines deleted, duplicated or swapped */
    for (int i = 0; i < n_mut / 4; i++) {
        size_t a = rnd_below(len), b = a;
        while (a > 0 && f->text[a - 1] != '\n')
            a--;
        while (b < len && f->text[b] != '\n')
            b++;
        if (b < len)
            b++;
        size_t n = 0;
        memcpy(m, f->text, a);
        n = a;
        if (i % 2) { /* duplicate */
            memcpy(m + n, f->text + a, b - a);
            n += b - a;
            memcpy(m + n, f->text + a, len - a);
            n += len - a;
        } else { /* delete */
            memcpy(m + n, f->text + b, len - b);
            n += len - b;
        }
        check(f->path, m, n, "%s with the line at byte %zu %s", f->path, a, i % 2 ? "doubled" : "deleted");
    }
    free(m);
}

/* Generated extremes. */
static void gen_nesting(void *ctx)
{
    (void)ctx;
    Buf b = {0};
    const int deep = 5000;
    struct {
        const char *open, *close, *desc;
    } nests[] = {
        {"(", ")", "parentheses"}, {"[", "]", "lists"}, {"-", "", "unary minus"}, {"!", "", "negations"},
        {"f(", ")", "calls"}, {"true ? 1 : ", "", "ternaries (right-nested)"}, {"true ? ", " : 0", "ternaries"},
        {"2 ** ", "", "powers (right-associative)"}, {"sum[i: 2](", ")", "reductions"}, {"[1, ", "]", "lists"},
    };
    for (size_t i = 0; i < sizeof nests / sizeof nests[0]; i++) {
        for (int level = 100; level <= deep; level *= 7) {
            puts_(&b, "x = ");
            repeat(&b, nests[i].open, level);
            puts_(&b, "1");
            repeat(&b, nests[i].close, level);
            puts_(&b, ";\n");
            char desc[128];
            snprintf(desc, sizeof desc, "%d nested %s", level, nests[i].desc);
            check_buf(&b, desc);
        }
    }
    /* left-associative chains: shallow for the parser, deep trees for the checker */
    static const char *const ops[] = {" + ", " * ", " @ ", " - ", " && ", " == ", " // ", " % "};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        puts_(&b, "layer L() { call(x) { y = x");
        for (int k = 0; k < 50000; k++) {
            puts_(&b, ops[i]);
            puts_(&b, k % 2 ? "x" : "1");
        }
        puts_(&b, "; return y; } }\nm = Sequential([Input(shape = [3]), L()]);\n");
        check_buf(&b, "a chain of 50000 binary operators");
    }
    puts_(&b, "x = y");
    repeat(&b, "[0]", 50000);
    puts_(&b, ";\n");
    check_buf(&b, "50000 subscripts in a row");
    puts_(&b, "x = y");
    repeat(&b, ".a", 50000);
    puts_(&b, ";\n");
    check_buf(&b, "50000 attributes in a row");
    puts_(&b, "x = f");
    repeat(&b, "()", 50000);
    puts_(&b, ";\n");
    check_buf(&b, "50000 calls in a row");
    /* statements */
    for (int level = 10; level <= deep; level *= 5) {
        puts_(&b, "layer L() { call(x) {\n");
        repeat(&b, "if true {\n", level);
        puts_(&b, "x = x + 1.0;\n");
        repeat(&b, "}\n", level);
        puts_(&b, "return x; } }\nm = Sequential([Input(shape = [3]), L()]);\n");
        check_buf(&b, "nested ifs");
        puts_(&b, "layer L() { call(x) {\n");
        for (int k = 0; k < level; k++)
            printf_(&b, "if %d == 1 { x = x + 1.0; } else ", k);
        puts_(&b, "{ x = x * 2.0; }\nreturn x; } }\nm = Sequential([Input(shape = [3]), L()]);\n");
        check_buf(&b, "an else-if chain");
        puts_(&b, "layer L() { call(x) {\n");
        repeat(&b, "{\n", level);
        repeat(&b, "}\n", level);
        puts_(&b, "return x; } }\n");
        check_buf(&b, "nested blocks (not a statement)");
        repeat(&b, "layer L() {\n", level);
        check_buf(&b, "unclosed layers");
    }
    free(b.s);
}

static void gen_sizes(void *ctx)
{
    (void)ctx;
    Buf b = {0};
    const int mb = 1 << 20;
    puts_(&b, "x = ");
    repeat(&b, "9", mb);
    puts_(&b, ";\n");
    check_buf(&b, "a million-digit integer");
    puts_(&b, "x = 0.");
    repeat(&b, "9", 100000);
    puts_(&b, "e99999999999999999999;\n");
    check_buf(&b, "a long float with a huge exponent");
    repeat(&b, "v", mb);
    puts_(&b, " = 1;\n");
    check_buf(&b, "a megabyte identifier");
    puts_(&b, "x = ");
    repeat(&b, "w", mb);
    puts_(&b, ";\n");
    check_buf(&b, "an unknown megabyte identifier");
    puts_(&b, "layer ");
    repeat(&b, "VeryLongLayerName", 20000);
    puts_(&b, "() { call(x) = x; }\nm = Sequential([Input(shape = [2]), ");
    repeat(&b, "VeryLongLayerName", 20000);
    puts_(&b, "()]);\n");
    check_buf(&b, "a layer class with a 340 KB name");
    puts_(&b, "x = \"");
    repeat(&b, "s", mb);
    puts_(&b, "\";\n");
    check_buf(&b, "a megabyte string");
    puts_(&b, "x = \"");
    repeat(&b, "\\n", mb / 2);
    check_buf(&b, "an unterminated megabyte string");
    puts_(&b, "#");
    repeat(&b, "c", mb);
    check_buf(&b, "a megabyte comment without a newline");
    puts_(&b, "x = [");
    repeat(&b, "1, ", 100000);
    puts_(&b, "];\n");
    check_buf(&b, "a list of 100000 elements");
    puts_(&b, "x = 1;");
    repeat(&b, " x = x + 1;", 30000);
    check_buf(&b, "30000 statements on one line");
    repeat(&b, "\n", mb);
    check_buf(&b, "a million empty lines");
    repeat(&b, "$", 200000);
    check_buf(&b, "200000 stray characters");
    for (int i = 0; i < 10000; i++)
        printf_(&b, "a%d = b%d;\n", i, i);
    check_buf(&b, "10000 unknown names");
    for (int i = 0; i < 20000; i++)
        printf_(&b, "a%d = %d;\n", i, i);
    check_buf(&b, "20000 top-level names");
    puts_(&b, "m = Sequential([Input(shape = [4]),\n");
    for (int i = 0; i < 1500; i++)
        puts_(&b, i % 3 == 2 ? "Dropout(0.1),\n" : "Dense(4, activation = relu),\n");
    puts_(&b, "Dense(2, activation = softmax)]);\nm.compile(optimizer = adam, loss = sparse_categorical_crossentropy, "
              "metrics = [accuracy]);\n");
    check_buf(&b, "1500 layers");
    for (int i = 0; i < 1000; i++)
        printf_(&b, "layer L%d(u: int = %d) { build(x: [N, D]) { w = add_weight(shape = [D, u]); } "
                    "call(x) = relu(x @ w); }\n", i, 1 + i % 7);
    puts_(&b, "m = Sequential([Input(shape = [3])");
    for (int i = 0; i < 1000; i++)
        printf_(&b, ", L%d()", i);
    puts_(&b, "]);\n");
    check_buf(&b, "1000 layer classes in one model");
    for (int i = 0; i < 300; i++)
        printf_(&b, "m%d = Sequential([Input(shape = [3]), Dense(2)]);\nm%d.compile(optimizer = sgd, loss = mse);\n",
                i, i);
    check_buf(&b, "300 models");
    puts_(&b, "layer L(");
    for (int i = 0; i < 2000; i++)
        printf_(&b, "p%d: int = %d, ", i, i);
    puts_(&b, ") { call(x) = x; }\nm = Sequential([Input(shape = [3]), L(p0 = 1, p1999 = 2)]);\n");
    check_buf(&b, "a layer with 2000 hyperparameters");
    puts_(&b, "m = Sequential([Input(shape = [3]), Dense(2");
    for (int i = 0; i < 2000; i++)
        printf_(&b, ", k%d = %d", i, i);
    puts_(&b, ")]);\n");
    check_buf(&b, "a call with 2000 unknown keyword arguments");
    free(b.s);
}

static void gen_semantics(void *ctx)
{
    (void)ctx;
    Buf b = {0};
    static const char *const programs[] = {
        /* compile-time arithmetic at the edges */
        "x = 1 ** 1000000000000000;",
        "x = (-1) ** 999999999999999999;",
        "x = 2 ** 63;",
        "x = 2 ** -1000000;",
        "x = 0 ** 0;",
        "x = (0 - 9223372036854775807 - 1) % -1;",
        "x = (0 - 9223372036854775807 - 1) // -1;",
        "x = -(0 - 9223372036854775807 - 1);",
        "x = 9223372036854775807 + 1;",
        "x = 9223372036854775807 * 9223372036854775807;",
        "x = 1 // 0;",
        "x = 1 % 0;",
        "x = 1.0 / 0;",
        "x = 1e308 * 1e308;",
        "x = int(1e300);",
        "x = int(-1e300 * 1e300);",
        "x = [1, 2, 3][0 - 9223372036854775807 - 1];",
        "x = [1, 2, 3][9223372036854775807];",
        "s = \"ab\"; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; "
        "s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; "
        "s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s; s = s + s;",
        "l = [1]; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; "
        "l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; "
        "l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l; l = l + l;",
        /* functions */
        "def f(x) = f(x); y = f(1);",
        "def f(x) = g(x); def g(x) = f(x); y = f(1);",
        "def f(x) = x(x); y = f(f);",
        "def f(a, a) = a; y = f(1, 2);",
        "def f() = 1; y = f(1, 2, 3, x = 4);",
        /* shapes at the edges */
        "m = Sequential([Input(shape = [9223372036854775807, 9223372036854775807]), Flatten(), Dense(2)]);",
        "m = Sequential([Input(shape = [1000000, 1000000, 1000000]), Dense(2)]);",
        "m = Sequential([Input(shape = [100000, 100000, 100000, 100000])]);\nm.compile(loss = mse);",
        "m = Sequential([Dense(2, input_shape = [100000, 100000, 100000, 100000])]);",
        "layer L() { build(x: [N, D]) { a = max(N, 3); } call(x) = x; }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { build(x: [N, D]) { s = add_weight(shape = [D], trainable = false); }\n"
        "call(x, training) { if training { assign(s, 1.0); assign(s, 2.0); } return x; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "m = Sequential([Input(shape = [0]), Dense(2)]);",
        "m = Sequential([Input(shape = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]), Dense(2)]);",
        "m = Sequential([Input(shape = [3]), Dense(9223372036854775807)]);",
        "m = Sequential([Input(shape = [3]), Dense(-1)]);",
        "m = Sequential([Input(shape = [3]), Dense(1e300)]);",
        "m = Sequential([Input(shape = [3]), Dropout(2.0)]);",
        "layer L() { call(x) = reshape(x, [-1, 9223372036854775807, 9223372036854775807]); }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = reshape(x, [-1, -1]); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = reshape(x, [0, -1]); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = zeros([1000000000, 1000000000, 1000000000]); }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = transpose(x, [0, 0]); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = sum(x, axis = 9223372036854775807); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = sum(x, axis = [0, 0, 1]); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = one_hot(x, 9223372036854775807); }\nm = Sequential([Input(shape = [3], dtype = "
        "\"int32\"), L()]);",
        "layer L() { call(x) = take(x, x); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = cast(1e300, \"int32\") + x; }\nm = Sequential([Input(shape = [3]), L()]);",
        /* index expressions at the edges */
        "layer L() { call(x) { y[n, i] = x[n, i * 4611686018427387904 + i * 4611686018427387904]; return y; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n, i] = x[n, -(i * 9223372036854775807) - 1 - i]; return y; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n, i] : [N, 9223372036854775807] = x[n, i]; return y; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n] = sum[a: 9223372036854775807](x[n, a % 3]); return y; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n] = sum[a: 0](x[n, a]); return y; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n, n] = x[n, n]; return y; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n, i] = x[n, x[n, i]]; return y; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n, i] = sum[i](x[n, i]); return y; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n] = sum[a, a](x[n, a]); return y; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n] = sum[a](sum[b](max[c](x[n, a] * x[n, b] * x[n, c]))); return y; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[a, b, c, d, e, f, g, h, i] = x[a, b]; return y; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n] = sum[a: 2, b: 2, c: 2, d: 2, e: 2, f: 2, g: 2, h: 2, i: 2, j: 2, k: 2, l: 2, "
        "o: 2, p: 2, q: 2, r: 2, s: 2](x[n, 0]); return y; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y[n, a, b, c, d, e, f, g] = sum[h: 2, i: 2, j: 2, k: 2, l: 2, o: 2, p: 2, q: 2, r: 2]"
        "(x[n, 0]); return y; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { y = sum[a](x[0, a]); return x; } }\nm = Sequential([Input(shape = [3]), L()]);",
        /* layers, build and call */
        "layer L() { build(x: [N, ..., ..., D]) {} call(x) = x; }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { build(x: [N, D, D]) {} call(x) = x; }\nm = Sequential([Input(shape = [3, 4]), L()]);",
        "layer L() { build(x: [N, 3] float) { w = add_weight(shape = [3]); w = add_weight(shape = [3]); } "
        "call(x) = x * w; }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { build(x) { w = add_weight(shape = [3], trainable = false); } call(x, training) { "
        "assign(w, w + 1.0); assign(w, w); return x; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x, training) { if training { return x; } } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { return x; return x; } }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) { add_metric(x, name = \"m\"); add_metric(x, name = \"m\"); return x; } }\n"
        "m = Sequential([Input(shape = [3]), L()]);\nm.compile(loss = mse);",
        "layer L() { call(x) { add_loss(x); return x * 0.0; } }\nm = Sequential([Input(shape = [3]), L()]);\n"
        "m.compile();",
        "layer L(a: int = b, b: int = a) { call(x) = x; }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L(f: fn = L) { call(x) = f(x); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = L()(x); }\nm = Sequential([Input(shape = [3]), L()]);",
        "layer L() { call(x) = m; }\nm = Sequential([Input(shape = [3]), L()]);",
        "m = Sequential([Input(shape = [3]), Dense(2)]); m = Sequential([Input(shape = [3]), Dense(2)]);",
        "m = Sequential([Input(shape = [3]), Dense(2)]); m.fit(); m.compile(); m.compile(loss = mse); m.add(m);",
        "m = Sequential([Dense(2), Input(shape = [3]), Input(shape = [3])]);",
        "m = Sequential([Input(shape = [3]), Dense(2), Dense(2, name = \"dense\"), Dense(2, name = \"dense_1\")]);",
        "m = Sequential([Input(shape = [3]), Dense(2)]);\nm.compile(optimizer = adam(learning_rate = -1.0, "
        "beta_1 = 2.0, clipnorm = 1.0, clipvalue = 1.0), loss = huber(delta = -1.0), metrics = [accuracy, "
        "accuracy]);",
        "m = Sequential([Input(shape = [3]), Dense(1, activation = sigmoid)]);\nm.compile(loss = "
        "binary_crossentropy(from_logits = true, label_smoothing = 2.0), metrics = [accuracy]);\n"
        "m.fit(epochs = 9223372036854775807, batch_size = 0, validation_split = 1.0, callbacks = [1]);",
        "import \"/dev/zero\";",
        "import \"/dev/stdin\";",
        "import \"/\";",
        "import \"generated.kl\";",
        "import \"\";",
        "import \"no such file.kl\";",
        "import \"../examples/seed.kl\"; import \"../examples/seed.kl\";",
    };
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++)
        check(gen_path, programs[i], strlen(programs[i]), "%s", programs[i]);
    /* defs that call each other twice: 2^40 inlinings if nothing stops them */
    for (int i = 0; i < 40; i++)
        printf_(&b, "def f%d(x) = f%d(x) + f%d(x);\n", i, i + 1, i + 1);
    puts_(&b, "def f40(x) = x;\ny = f0(1);\nlayer L() { call(x) = f0(x); }\n"
              "m = Sequential([Input(shape = [3]), L()]);\n");
    check_buf(&b, "exponential defs");
    free(b.s);
}

/* Imports between files on disk: cycles, chains, self-imports. */
static void gen_imports(void *ctx)
{
    (void)ctx;
    const char *dir = getenv("KLC_TEST_TMPDIR");
    char base[4096];
    snprintf(base, sizeof base, "%s", dir && *dir ? dir : "/tmp");
    mkdir(base, 0777);
    char a[4200], b[4200], c[4200];
    snprintf(a, sizeof a, "%s/robust_a.kl", base);
    snprintf(b, sizeof b, "%s/robust_b.kl", base);
    snprintf(c, sizeof c, "%s/robust_chain_0.kl", base);
    FILE *f = fopen(b, "w");
    if (f) {
        fputs("import \"robust_a.kl\";\nlayer B() { call(x) = x; }\n", f);
        fclose(f);
    }
    const char *text = "import \"robust_b.kl\";\nimport \"robust_a.kl\";\nm = Sequential([Input(shape = [2]), B()]);\n";
    check(a, text, strlen(text), "a cycle of imports");
    for (int i = 0; i < 60; i++) { /* a chain deeper than the import limit */
        char p[4200];
        snprintf(p, sizeof p, "%s/robust_chain_%d.kl", base, i);
        f = fopen(p, "w");
        if (f) {
            fprintf(f, "import \"robust_chain_%d.kl\";\nlayer C%d() { call(x) = x; }\n", i + 1, i);
            fclose(f);
        }
    }
    text = "import \"robust_chain_0.kl\";\nm = Sequential([Input(shape = [2]), C0(), C59()]);\n";
    check(a, text, strlen(text), "a chain of 60 imports");
    text = "import \"robust_chain_0.kl\";\nx = 1;\n";
    check(c, text, strlen(text), "a file importing itself through a chain");
}

/* ------------------------------------------------------------------------
 * Tests
 * --------------------------------------------------------------------- */

static void test_trivial_inputs(void **state)
{
    (void)state;
    run_batch("trivial", gen_trivial, NULL);
}

static void test_garbage(void **state)
{
    (void)state;
    run_batch("garbage", gen_garbage, NULL);
}

static void test_source_files(void **state)
{
    (void)state;
    if (n_files == 0)
        fail_msg("no .kl files found under %s/examples and %s/tests", getenv("KLC_SOURCE_DIR"),
                 getenv("KLC_SOURCE_DIR"));
    for (int i = 0; i < n_files; i++)
        run_batch(files[i].path, mutate_file, &files[i]);
}

static void test_nesting(void **state)
{
    (void)state;
    run_batch("nesting", gen_nesting, NULL);
}

static void test_sizes(void **state)
{
    (void)state;
    run_batch("sizes", gen_sizes, NULL);
}

static void test_semantics(void **state)
{
    (void)state;
    run_batch("semantics", gen_semantics, NULL);
}

static void test_imports(void **state)
{
    (void)state;
    run_batch("imports", gen_imports, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trivial_inputs), cmocka_unit_test(test_garbage), cmocka_unit_test(test_source_files),
        cmocka_unit_test(test_nesting),        cmocka_unit_test(test_sizes),   cmocka_unit_test(test_semantics),
        cmocka_unit_test(test_imports),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
