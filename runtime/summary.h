/*
 * summary.h — Keras' model.summary() table (keras-semantics.md §6.5).
 *
 * Shared by the compiler (klc --summary) and the runtime (./model summary);
 * depends on nothing but the C library.
 */
#ifndef KLC_SUMMARY_H
#define KLC_SUMMARY_H

#include <stdint.h>
#include <stdio.h>

typedef struct klc_summary_row {
    const char *name;          /* "dense_1" */
    const char *type;          /* "Dense" */
    const char *output_shape;  /* "(None, 10)" */
    int64_t params;
} klc_summary_row;

typedef struct klc_summary_totals {
    int64_t trainable;
    int64_t non_trainable;
    int64_t optimizer;         /* < 0: the optimizer is not built, no line */
    int64_t optimizer_bytes;   /* its size in bytes (iteration counter is 8 bytes) */
} klc_summary_totals;

/* Terminal width rule of Keras/rich: min(88, columns - 4), columns from
 * $COLUMNS, else the terminal of `out`, else 80 (may be below 16 on a tiny
 * terminal; klc_summary_print then uses 16). */
int klc_summary_width(FILE *out);
/* Print `Model: "<name>"`, the table and the totals; width 0 = klc_summary_width(out).
 * Plain text (no colours), UTF-8 box drawing; widths below 16 are taken as 16. */
void klc_summary_print(FILE *out, const char *model_name, const klc_summary_row *rows, int n_rows,
                       const klc_summary_totals *totals, int width);
/* Widths of the three columns between the borders (padding included) of a
 * table `width` wide, as Keras and rich compute them: 38/29/17 at 88.
 * Widths below 16, where Keras gives up, are taken as 16. */
void klc_summary_column_widths(int width, int seg[3]);
/* "50,826" */
void klc_format_thousands(char *buf, size_t size, int64_t v);
/* "198.54 KB" */
void klc_format_bytes(char *buf, size_t size, double bytes);

#endif /* KLC_SUMMARY_H */
