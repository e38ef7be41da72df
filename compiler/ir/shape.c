/* shape.c — arithmetic on c + k·N dimensions and shape printing. */
#include "ir/shape.h"

#include <stdio.h>
#include <string.h>

#include "base/arena.h"

static bool add_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_add_overflow(a, b, r);
}

static bool mul_ok(int64_t a, int64_t b, int64_t *r)
{
    return !__builtin_mul_overflow(a, b, r);
}

bool dim_add(Dim a, Dim b, Dim *out)
{
    return add_ok(a.c, b.c, &out->c) && add_ok(a.k, b.k, &out->k);
}

bool dim_sub(Dim a, Dim b, Dim *out)
{
    return !__builtin_sub_overflow(a.c, b.c, &out->c) && !__builtin_sub_overflow(a.k, b.k, &out->k);
}

bool dim_mul(Dim a, Dim b, Dim *out)
{
    if (a.k != 0 && b.k != 0)
        return false; /* N squared */
    if (a.k == 0) {
        Dim t = a;
        a = b;
        b = t;
    }
    /* now b is constant */
    return mul_ok(a.c, b.c, &out->c) && mul_ok(a.k, b.c, &out->k);
}

bool dim_div_exact(Dim a, Dim b, Dim *out)
{
    if (b.k != 0 || b.c == 0)
        return false;
    if (b.c == -1) /* INT64_MIN % -1 and INT64_MIN / -1 trap: negate with a check */
        return !__builtin_sub_overflow((int64_t)0, a.c, &out->c) && !__builtin_sub_overflow((int64_t)0, a.k, &out->k);
    if (a.c % b.c != 0 || a.k % b.c != 0)
        return false;
    out->c = a.c / b.c;
    out->k = a.k / b.c;
    return true;
}

bool dim_le_always(Dim a, Dim b)
{
    /* b - a = dc + dk*N >= 0 for all N >= 1  <=>  dk >= 0 and dc + dk >= 0 */
    Dim d;
    if (!dim_sub(b, a, &d))
        return false;
    int64_t at1; /* the difference at N = 1 */
    return d.k >= 0 && add_ok(d.c, d.k, &at1) && at1 >= 0;
}

bool dim_positive(Dim a)
{
    int64_t at1;
    return a.k >= 0 && add_ok(a.c, a.k, &at1) && at1 >= 1;
}

const char *dim_str(Arena *a, Dim d)
{
    if (d.k == 0)
        return arena_printf(a, "%lld", (long long)d.c);
    const char *n = d.k == 1 ? arena_strdup(a, "N") : d.k == -1 ? arena_strdup(a, "-N")
                                                  : arena_printf(a, "%lld*N", (long long)d.k);
    if (d.c == 0)
        return n;
    /* |c| as unsigned: -INT64_MIN does not fit an int64 */
    unsigned long long mag = d.c < 0 ? 0ULL - (unsigned long long)d.c : (unsigned long long)d.c;
    return arena_printf(a, "%s %c %llu", n, d.c < 0 ? '-' : '+', mag);
}

const char *shape_str(Arena *a, const Shape *s)
{
    char buf[512];
    size_t len = 0;
    buf[len++] = '[';
    for (int i = 0; i < s->rank && len < sizeof buf - 40; i++) {
        const char *t = dim_str(a, s->d[i]);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? ", " : "", t);
    }
    snprintf(buf + len, sizeof buf - len, "]");
    return arena_strdup(a, buf);
}

const char *shape_keras(Arena *a, const Shape *s)
{
    char buf[512];
    size_t len = 0;
    buf[len++] = '(';
    for (int i = 0; i < s->rank && len < sizeof buf - 40; i++) {
        if (s->d[i].k != 0)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%sNone", i ? ", " : "");
        else
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%lld", i ? ", " : "",
                                    (long long)s->d[i].c);
    }
    if (s->rank == 1)
        len += (size_t)snprintf(buf + len, sizeof buf - len, ",");
    snprintf(buf + len, sizeof buf - len, ")");
    return arena_strdup(a, buf);
}

bool shape_eq(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (!dim_eq(a->d[i], b->d[i]))
            return false;
    return true;
}

bool shape_count(const Shape *s, Dim *out)
{
    Dim r = dim_const(1);
    for (int i = 0; i < s->rank; i++)
        if (!dim_mul(r, s->d[i], &r))
            return false;
    *out = r;
    return true;
}

bool shape_const_count(const Shape *s, int64_t *out)
{
    int64_t r = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i].k != 0 || !mul_ok(r, s->d[i].c, &r))
            return false;
    }
    *out = r;
    return true;
}

Shape shape_make(int rank, const Dim *d)
{
    Shape s;
    memset(&s, 0, sizeof s);
    s.rank = rank;
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}
