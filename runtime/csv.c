/*
 * csv.c — numeric CSV files into float32 [rows, cols] tensors.
 *
 * Cells are separated by commas; spaces and tabs around a cell are ignored,
 * lines end in "\n" or "\r\n" (the last one may have no end), blank lines
 * are skipped and a UTF-8 byte-order mark is ignored.  A cell is a decimal
 * number ("3", "-0.5", "1e-3"; no quotes, no nan/inf, no hex).  The first
 * row is a header, and skipped, when one of its cells is not a number; then
 * every later row must be numeric.  Every row has the same number of cells.
 * A single column gives [rows, 1]; callers may treat it as [rows].
 *
 * Numbers are read with strtod, so the C locale's '.' decimal point is
 * assumed (the runtime never calls setlocale).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "klc/runtime.h"

/* Longest cell text read as a number. */
#define CSV_MAX_NUMBER 127

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Is s[0..n) a decimal number: [+-] (d+ [. d*] | . d+) [(e|E) [+-] d+] ? */
static int is_number(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && is_digit(s[i]))
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && is_digit(s[i]))
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    return i == n;
}

/* The value of the number cell s[0..n) (is_number must hold), as a double. */
static double cell_value(const char *s, size_t n)
{
    char buf[CSV_MAX_NUMBER + 1];
    memcpy(buf, s, n);
    buf[n] = '\0';
    return strtod(buf, NULL);
}

/* One line being split into cells. */
typedef struct row {
    const char *s;
    size_t end, pos;
    size_t column; /* 1-based index of the current cell */
} row;

/* The next cell of the row, trimmed, into *cell and *n; 0 when the row is done. */
static int next_cell(row *r, const char **cell, size_t *n)
{
    if (r->pos > r->end)
        return 0;
    size_t a = r->pos, b = a;
    while (b < r->end && r->s[b] != ',')
        b++;
    r->pos = b + 1; /* past the comma, or past the end after the last cell */
    while (a < b && (r->s[a] == ' ' || r->s[a] == '\t'))
        a++;
    while (b > a && (r->s[b - 1] == ' ' || r->s[b - 1] == '\t'))
        b--;
    *cell = r->s + a;
    *n = b - a;
    r->column++;
    return 1;
}

static size_t count_cells(const char *s, size_t a, size_t b)
{
    size_t n = 1;
    for (size_t i = a; i < b; i++)
        n += s[i] == ',';
    return n;
}

static int is_blank(const char *s, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int row_is_numeric(const char *s, size_t a, size_t b)
{
    row r = { s, b, a, 0 };
    const char *cell;
    size_t n;
    while (next_cell(&r, &cell, &n))
        if (n > CSV_MAX_NUMBER || !is_number(cell, n))
            return 0;
    return 1;
}

static int cell_error(const char *name, long line, size_t column, const char *cell, size_t n)
{
    if (n == 0)
        return klc_seterr("%s: line %ld, column %zu: empty cell", name, line, column);
    return klc_seterr("%s: line %ld, column %zu: \"%.*s%s\" is not a number", name, line, column,
                      (int)(n > 40 ? 40 : n), cell, n > 40 ? "..." : "");
}

int klc_csv_parse(klc_tensor *t, const char *name, const char *text, size_t size)
{
    memset(t, 0, sizeof *t);
    size_t pos = 0;
    if (size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    if (pos == size)
        return klc_seterr("%s: the file is empty", name);

    float *vals = NULL;
    size_t nvals = 0, cap = 0;
    int64_t rows = 0;
    size_t cols = 0;
    long line = 0, first_line = 0, header_line = 0;

    while (pos < size) {
        size_t end = pos;
        while (end < size && text[end] != '\n')
            end++;
        size_t next = end < size ? end + 1 : end;
        if (end > pos && text[end - 1] == '\r')
            end--;
        line++;
        if (is_blank(text, pos, end)) {
            pos = next;
            continue;
        }

        size_t ncells = count_cells(text, pos, end);
        if (first_line == 0) {
            first_line = line;
            cols = ncells;
            if (!row_is_numeric(text, pos, end)) {
                header_line = line;
                pos = next;
                continue;
            }
        } else if (ncells != cols) {
            free(vals);
            return klc_seterr("%s: line %ld has %zu columns, expected %zu (as line %ld)", name,
                              line, ncells, cols, first_line);
        }

        if (cap - nvals < cols) {
            /* cols <= size, so these sums cannot overflow before the check. */
            size_t ncap = cap < 512 ? 1024 : cap * 2;
            if (ncap < nvals + cols)
                ncap = nvals + cols;
            float *bigger = ncap <= SIZE_MAX / sizeof(float) ? realloc(vals, ncap * sizeof(float))
                                                             : NULL;
            if (!bigger) {
                free(vals);
                return klc_seterr("%s: out of memory at line %ld", name, line);
            }
            vals = bigger;
            cap = ncap;
        }
        row r = { text, end, pos, 0 };
        const char *cell;
        size_t n;
        while (next_cell(&r, &cell, &n)) {
            if (n > CSV_MAX_NUMBER || !is_number(cell, n)) {
                free(vals);
                return cell_error(name, line, r.column, cell, n);
            }
            double v = cell_value(cell, n);
            if (fabs(v) > FLT_MAX) {
                free(vals);
                return klc_seterr("%s: line %ld, column %zu: %.*s is outside the float32 range",
                                  name, line, r.column, (int)n, cell);
            }
            vals[nvals++] = (float)v;
        }
        rows++;
        pos = next;
    }

    if (first_line == 0)
        return klc_seterr("%s: the file is empty (only blank lines)", name);
    if (rows == 0) {
        free(vals);
        return klc_seterr("%s: no data rows (line %ld is a header: it has a cell that is not a "
                          "number)", name, header_line);
    }
    float *shrunk = realloc(vals, nvals * sizeof(float));
    t->dtype = KLC_F32;
    t->rank = 2;
    t->shape[0] = rows;
    t->shape[1] = (int64_t)cols;
    t->data = shrunk ? shrunk : vals;
    t->owns = 1;
    return 0;
}

static int parse_csv_bytes(klc_tensor *t, const char *name, const unsigned char *buf, size_t size)
{
    return klc_csv_parse(t, name, (const char *)buf, size);
}

int klc_csv_load(klc_tensor *t, const char *path)
{
    return klc_load_with(t, path, parse_csv_bytes);
}

/* One cell: float32 with 9 significant digits (reads back to the same
 * float), float64 with 17, integers exactly. */
static void write_cell(FILE *fp, const klc_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case KLC_F32: fprintf(fp, "%.9g", (double)((const float *)t->data)[i]); break;
    case KLC_F64: fprintf(fp, "%.17g", ((const double *)t->data)[i]); break;
    case KLC_I32: fprintf(fp, "%ld", (long)((const int32_t *)t->data)[i]); break;
    case KLC_I64: fprintf(fp, "%lld", (long long)((const int64_t *)t->data)[i]); break;
    case KLC_U8: fprintf(fp, "%u", (unsigned)((const uint8_t *)t->data)[i]); break;
    default: break;
    }
}

int klc_csv_save(const klc_tensor *t, const char *path)
{
    int64_t count;
    if (klc_shape_size(t->rank, t->shape, klc_dtype_size(t->dtype), &count, NULL) != 0 ||
        klc_dtype_size(t->dtype) == 0)
        return klc_seterr("%s: cannot save a tensor of this dtype or shape as CSV", path);
    if (count > 0 && !t->data)
        return klc_seterr("%s: cannot save a tensor without data", path);
    /* [rows, everything else]: a row per sample */
    int64_t rows = t->rank == 0 ? 1 : t->shape[0];
    int64_t cols = rows > 0 ? count / rows : 0;
    klc_atomic_file af;
    if (klc_atomic_open(&af, path) != 0)
        return -1;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) {
            if (c)
                fputc(',', af.fp);
            write_cell(af.fp, t, r * cols + c);
        }
        fputc('\n', af.fp);
    }
    return klc_atomic_commit(&af);
}
