/*
 * e2e_util.c — helpers of the end-to-end tests (e2e_util.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "e2e_util.h"
#include "test_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

const char *e2e_path(const char *name)
{
    static char bufs[8][4096];
    static int next;
    char *buf = bufs[next++ % 8];
    const char *dir = getenv("KLC_TEST_TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp/klc-e2e";
    if (test_mkdir_p(dir) != 0) {
        fprintf(stderr, "cannot create %s: %s\n", dir, strerror(errno));
        abort();
    }
    snprintf(buf, sizeof bufs[0], "%s/%s", dir, name);
    return buf;
}

int e2e_run(const char *cmd, char *out, size_t size)
{
    char full[8192];
    snprintf(full, sizeof full, "(%s) 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t len = 0;
    if (size > 0)
        out[0] = '\0';
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
        if (size > 0 && len + 1 < size) {
            size_t take = got < size - 1 - len ? got : size - 1 - len;
            memcpy(out + len, chunk, take);
            len += take;
            out[len] = '\0';
        }
    }
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

char *e2e_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *s = malloc(cap);
    size_t got;
    while (s && (got = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *t = realloc(s, cap * 2);
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (s)
        s[len] = '\0';
    return s;
}

static void save(const char *path, klc_dtype dt, void *data, int64_t rows, int64_t cols)
{
    int64_t shape[2] = { rows, cols };
    klc_tensor t = klc_tensor_wrap(dt, cols > 0 ? 2 : 1, shape, data);
    if (klc_npy_save(&t, path) != 0) {
        fprintf(stderr, "writing %s: %s\n", path, klc_last_error());
        abort();
    }
}

void e2e_save_f32(const char *path, const float *data, int64_t rows, int64_t cols)
{
    save(path, KLC_F32, (void *)data, rows, cols);
}

void e2e_save_i32(const char *path, const int32_t *data, int64_t rows)
{
    save(path, KLC_I32, (void *)data, rows, 0);
}

bool e2e_close(double got, double want, double rel, double abs)
{
    return fabs(got - want) <= abs + rel * fabs(want);
}

static uint64_t next_u64(e2e_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double e2e_uniform(e2e_rng *r)
{
    return (double)(next_u64(r) >> 11) * 0x1.0p-53;
}

double e2e_normal(e2e_rng *r)
{
    double u = e2e_uniform(r), v = e2e_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
}

int e2e_below(e2e_rng *r, int n)
{
    return (int)(e2e_uniform(r) * n);
}
