/*
 * summary.c — Keras' model.summary() (keras/src/utils/summary_utils.py),
 * as the `rich` library renders it without colours:
 *
 *   Model: "sequential"
 *   ┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━┓
 *   ┃ Layer (type)        ┃ Output Shape ┃  Param # ┃
 *   ┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━┩
 *   │ dense (Dense)       │ (None, 10)   │      650 │
 *   ├─────────────────────┼──────────────┼──────────┤   (a rule between rows)
 *   │ ...                 │              │          │
 *   └─────────────────────┴──────────────┴──────────┘
 *    Total params: 650 (2.54 KB)
 *
 * Depends on nothing but the C library (POSIX for the terminal width): the
 * compiler links this file too.  Text is counted in code points, which is
 * what rich counts for the ASCII names, shapes and numbers shown here.
 */
#define _POSIX_C_SOURCE 200809L

#include "summary.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define NCOLS 3
#define DEFAULT_WIDTH 88 /* Keras' line_length for Sequential-like models */
#define MIN_WIDTH 16     /* below this Keras raises "Insufficient console width" */
#define CELL_PAD 1       /* rich's default padding (0, 1): one space each side */

/* ------------------------------------------------------------------------- */
/* Width */

/* $COLUMNS as Python's int() reads it (blanks around an optional sign and
 * digits); 0 when unset or not a number, as shutil.get_terminal_size. */
static long env_columns(void)
{
    const char *s = getenv("COLUMNS");
    if (!s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    return *end ? 0 : v;
}

int klc_summary_width(FILE *out)
{
    long columns = env_columns();
    if (columns <= 0) {
        struct winsize ws;
        int fd = out ? fileno(out) : -1;
        if (fd >= 0 && isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
            columns = ws.ws_col;
        else
            columns = 80;
    }
    return columns - 4 < DEFAULT_WIDTH ? (int)(columns - 4) : DEFAULT_WIDTH;
}

/* Python's round(a / b) for a >= 0, b > 0: halves go to the even side.
 * Integer arithmetic, so no libm (the compiler links this file). */
static int round_half_even(int a, int b)
{
    int q = a / b, twice_rem = 2 * (a % b);
    if (twice_rem > b || (twice_rem == b && q % 2 != 0))
        q++;
    return q;
}

/*
 * Widths of the three columns between the borders, padding included, for a
 * table `width` wide (rich.Table(width=...) with fixed-width columns):
 *  - Keras asks for content widths int(p·width) − previous, p = .45/.80/1.0;
 *  - rich adds the padding (2 per column) and caps each at the room inside
 *    the borders (width − 4);
 *  - their sum exceeds that room (by 10, always: 6 of padding, 4 of borders),
 *    so rich's last resort, ratio_reduce(excess, [1,1,1], widths, widths),
 *    takes round(excess_left / columns_left) from each column in turn.
 * At 88: 41/33/20 → 38/29/17.  No column is wrappable in rich's sense (all
 * have a fixed width), so its _collapse_widths step changes nothing.
 */
void klc_summary_column_widths(int width, int seg[3])
{
    static const double split[NCOLS] = {0.45, 0.80, 1.0};
    if (width < MIN_WIDTH)
        width = MIN_WIDTH;
    int room = width - 2 - (NCOLS - 1); /* two edges, two dividers */
    int prev = 0, total = 0;
    for (int i = 0; i < NCOLS; i++) {
        int content = (int)(split[i] * width) - prev;
        prev += content;
        seg[i] = content + 2 * CELL_PAD;
        if (seg[i] > room)
            seg[i] = room;
        total += seg[i];
    }
    if (total <= room)
        return; /* cannot happen for width >= MIN_WIDTH (see above) */

    int excess = total - room, ratio_left = 0;
    for (int i = 0; i < NCOLS; i++)
        ratio_left += seg[i] > 0; /* ratio_reduce ignores columns whose maximum is 0 */
    for (int i = 0; i < NCOLS; i++) {
        if (seg[i] == 0 || ratio_left == 0)
            continue;
        int cut = round_half_even(excess, ratio_left);
        if (cut > seg[i])
            cut = seg[i];
        seg[i] -= cut;
        excess -= cut;
        ratio_left--;
    }
}

/* ------------------------------------------------------------------------- */
/* Numbers */

void klc_format_thousands(char *buf, size_t size, int64_t v)
{
    char digits[24], text[40];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(digits, sizeof digits, "%" PRIu64, mag);
    size_t nd = strlen(digits), k = 0;
    if (v < 0)
        text[k++] = '-';
    for (size_t i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0)
            text[k++] = ',';
        text[k++] = digits[i];
    }
    text[k] = '\0';
    snprintf(buf, size, "%s", text);
}

/* Keras' readable_memory_size: divide by 1024 while the quotient is >= 1.
 * Past PB it divides once more and still says PB, as Keras does. */
void klc_format_bytes(char *buf, size_t size, double bytes)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (bytes / 1024 < 1) {
            snprintf(buf, size, "%.2f %s", bytes, units[i]);
            return;
        }
        bytes /= 1024;
    }
    snprintf(buf, size, "%.2f PB", bytes);
}

/* ------------------------------------------------------------------------- */
/* Text: rich's word wrap */

static int is_utf8_start(char c)
{
    return ((unsigned char)c & 0xC0) != 0x80;
}

/* Code points in s[0..n). */
static int cp_count(const char *s, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += is_utf8_start(s[i]);
    return k;
}

/* Bytes taken by the first k code points of s[0..n). */
static size_t cp_bytes(const char *s, size_t n, int k)
{
    size_t i = 0;
    for (int seen = 0; i < n; i++)
        if (is_utf8_start(s[i]) && seen++ == k)
            break;
    return i;
}

typedef struct Piece {
    const char *s;
    size_t n;
} Piece;

/* State of a wrap: the line asked for is stored when it is complete. */
typedef struct Wrap {
    const char *text;
    size_t line_start;
    int count; /* lines completed */
    int want;
    Piece *line;
} Wrap;

static void wrap_break(Wrap *w, size_t pos)
{
    if (w->count == w->want)
        *w->line = (Piece){w->text + w->line_start, pos - w->line_start};
    w->count++;
    w->line_start = pos;
}

/*
 * Split `text` into lines of at most `width` code points as rich's
 * divide_line does.  A word is its non-blanks and the blanks after them
 * (the first word also has the blanks before); a word whose non-blank part
 * does not fit in what is left of the line starts a new line.  A word longer
 * than a whole line is cut into pieces of `width` when `fold` (rich's
 * overflow "fold", used by console.print), else it gets a line of its own,
 * to be cut with "…" when printed (overflow "ellipsis", which Keras' table
 * columns keep).  Returns the number of lines; stores line `want` in *line.
 */
static int wrap_text(const char *text, int width, int fold, int want, Piece *line)
{
    Wrap w = {text, 0, 0, want, line};
    size_t len = strlen(text), pos = 0;
    int offset = 0; /* code points on the current line */
    if (width < 1)
        width = 1;
    while (pos < len) {
        size_t start = pos, p = pos;
        while (p < len && isspace((unsigned char)text[p]))
            p++;
        if (p == len)
            break; /* blanks only: not a word */
        while (p < len && !isspace((unsigned char)text[p]))
            p++;
        int stripped = cp_count(text + start, p - start);
        while (p < len && isspace((unsigned char)text[p]))
            p++;
        int full = cp_count(text + start, p - start);

        if (width - offset >= stripped) {
            offset += full;
        } else if (stripped > width && fold) {
            for (;;) { /* pieces of `width`, trailing blanks included */
                size_t piece = cp_bytes(text + start, p - start, width);
                if (start > 0)
                    wrap_break(&w, start);
                if (start + piece >= p) {
                    offset = cp_count(text + start, p - start);
                    break;
                }
                start += piece;
            }
        } else if (stripped > width) {
            if (start > 0)
                wrap_break(&w, start);
            offset = full;
        } else if (offset > 0 && start > 0) {
            wrap_break(&w, start);
            offset = full;
        }
        pos = p;
    }
    wrap_break(&w, len);
    return w.count;
}

/* Drop the trailing blanks that make `ln` longer than `width` (rich's
 * rstrip_end); `all` drops every trailing blank. */
static int strip_blanks(Piece *ln, int width, int all)
{
    int cps = cp_count(ln->s, ln->n);
    int excess = all ? cps : cps - width;
    while (excess > 0 && ln->n > 0 && isspace((unsigned char)ln->s[ln->n - 1])) {
        ln->n--;
        cps--;
        excess--;
    }
    return cps;
}

static void put_spaces(FILE *out, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', out);
}

/* One line of a cell, justified in `width` as rich's Lines.justify: left
 * lines lose only the trailing blanks that overflow and are padded; right
 * lines lose all trailing blanks; a line still too long keeps width − 1 code
 * points and ends with "…". */
static void put_cell_line(FILE *out, Piece ln, int width, int right)
{
    int cps = strip_blanks(&ln, width, right);
    if (cps > width) {
        if (width > 0) {
            fwrite(ln.s, 1, cp_bytes(ln.s, ln.n, width - 1), out);
            fputs("\u2026", out);
        }
        return;
    }
    if (right)
        put_spaces(out, width - cps);
    fwrite(ln.s, 1, ln.n, out);
    if (!right)
        put_spaces(out, width - cps);
}

/* A table row: as many lines as its tallest cell.  Shorter cells get blank
 * lines below, or above in the header row (rich aligns header cells to the
 * bottom, body cells to the top). */
static void put_row(FILE *out, const char *const cells[NCOLS], const int seg[NCOLS],
                    const char *vbar, int is_header)
{
    static const int right[NCOLS] = {0, 0, 1}; /* Param # is right-aligned */
    int lines[NCOLS], height = 1;
    Piece ln = {"", 0};
    for (int c = 0; c < NCOLS; c++) {
        lines[c] = wrap_text(cells[c], seg[c] - 2 * CELL_PAD, 0, 0, &ln);
        if (lines[c] > height)
            height = lines[c];
    }
    for (int l = 0; l < height; l++) {
        fputs(vbar, out);
        for (int c = 0; c < NCOLS; c++) {
            int w = seg[c] - 2 * CELL_PAD;
            int k = is_header ? l - (height - lines[c]) : l; /* line of this cell */
            put_spaces(out, CELL_PAD);
            if (k >= 0 && k < lines[c]) {
                wrap_text(cells[c], w, 0, k, &ln);
                put_cell_line(out, ln, w, right[c]);
            } else {
                put_spaces(out, w);
            }
            put_spaces(out, CELL_PAD);
            fputs(vbar, out);
        }
        fputc('\n', out);
    }
}

/* A horizontal rule: left, fill per column, crossing between, right. */
static void put_rule(FILE *out, const int seg[NCOLS], const char *left, const char *fill,
                     const char *cross, const char *right)
{
    fputs(left, out);
    for (int c = 0; c < NCOLS; c++) {
        for (int i = 0; i < seg[c]; i++)
            fputs(fill, out);
        fputs(c + 1 < NCOLS ? cross : right, out);
    }
    fputc('\n', out);
}

/* ------------------------------------------------------------------------- */

/* A line of text as rich's console.print writes it in a console `width`
 * wide: word-wrapped, long words folded, no padding. */
static void put_text_line(FILE *out, const char *text, int width)
{
    Piece ln = {"", 0};
    int n = wrap_text(text, width, 1, 0, &ln);
    for (int l = 0; l < n; l++) {
        wrap_text(text, width, 1, l, &ln);
        strip_blanks(&ln, width, 0);
        fwrite(ln.s, 1, ln.n, out);
        fputc('\n', out);
    }
}

static void put_total(FILE *out, int console_width, const char *label, int64_t count,
                      double bytes)
{
    char num[40], size[64], text[160];
    klc_format_thousands(num, sizeof num, count);
    klc_format_bytes(size, sizeof size, bytes);
    snprintf(text, sizeof text, " %s params: %s (%s)", label, num, size);
    put_text_line(out, text, console_width);
}

void klc_summary_print(FILE *out, const char *model_name, const klc_summary_row *rows, int n_rows,
                       const klc_summary_totals *totals, int width)
{
    static const char *const header[NCOLS] = {"Layer (type)", "Output Shape", "Param #"};
    if (width <= 0)
        width = klc_summary_width(out);
    if (width < MIN_WIDTH)
        width = MIN_WIDTH;
    /* Keras' console is the terminal, 4 columns wider than the table it
     * chose; the lines outside the table wrap there. */
    int console_width = width + 4;
    int seg[NCOLS];
    klc_summary_column_widths(width, seg);

    char title[512];
    snprintf(title, sizeof title, "Model: \"%s\"", model_name ? model_name : "sequential");
    put_text_line(out, title, console_width);
    /* HEAVY_HEAD box: heavy lines around the header, light ones below. */
    put_rule(out, seg, "\u250f", "\u2501", "\u2533", "\u2513"); /* ┏━┳┓ */
    put_row(out, header, seg, "\u2503", 1);                     /* ┃ */
    put_rule(out, seg, "\u2521", "\u2501", "\u2547", "\u2529"); /* ┡━╇┩ */
    for (int r = 0; r < n_rows; r++) {
        char name[512], params[40];
        snprintf(name, sizeof name, "%s (%s)", rows[r].name, rows[r].type);
        klc_format_thousands(params, sizeof params, rows[r].params);
        const char *cells[NCOLS] = {name, rows[r].output_shape ? rows[r].output_shape : "?",
                                    params};
        if (r > 0)
            put_rule(out, seg, "\u251c", "\u2500", "\u253c", "\u2524"); /* ├─┼┤ */
        put_row(out, cells, seg, "\u2502", 0);                          /* │ */
    }
    put_rule(out, seg, "\u2514", "\u2500", "\u2534", "\u2518"); /* └─┴┘ */

    /* Sizes: 4 bytes per float parameter; the optimizer's own byte count
     * (its iteration counter is not a float). */
    int64_t trainable = totals->trainable, frozen = totals->non_trainable;
    int has_opt = totals->optimizer >= 0;
    int64_t opt = has_opt ? totals->optimizer : 0;
    double opt_bytes = has_opt ? (double)totals->optimizer_bytes : 0;
    put_total(out, console_width, "Total", trainable + frozen + opt,
              4.0 * (double)trainable + 4.0 * (double)frozen + opt_bytes);
    put_total(out, console_width, "Trainable", trainable, 4.0 * (double)trainable);
    put_total(out, console_width, "Non-trainable", frozen, 4.0 * (double)frozen);
    if (has_opt)
        put_total(out, console_width, "Optimizer", opt, opt_bytes);
}
