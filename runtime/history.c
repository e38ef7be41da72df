/*
 * history.c — Keras' History: per-epoch logs, freed and written as CSV
 * (the layout of Keras' CSVLogger: "epoch,<sorted keys>", one row per epoch,
 * numbers as Python prints them).
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "metrics.h"

void klc_history_free(klc_history *h)
{
    if (!h)
        return;
    free(h->epochs);
    free(h->logs);
    h->epochs = NULL;
    h->logs = NULL;
    h->n_epochs = 0;
}

int klc_history_write_csv(const klc_history *h, const char *path)
{
    klc_atomic_file af;
    if (klc_atomic_open(&af, path))
        return -1;
    const klc_logs *keys = h->n_epochs > 0 ? &h->logs[0] : NULL;
    fputs("epoch", af.fp);
    for (int k = 0; keys && k < keys->n; k++)
        fprintf(af.fp, ",%s", keys->names[k]);
    fputc('\n', af.fp);
    for (int e = 0; e < h->n_epochs; e++) {
        fprintf(af.fp, "%d", h->epochs[e]);
        for (int k = 0; k < keys->n; k++) {
            char num[64];
            klc_repr_double(num, sizeof num, klc_logs_get(&h->logs[e], keys->names[k]));
            fprintf(af.fp, ",%s", num);
        }
        fputc('\n', af.fp);
    }
    return klc_atomic_commit(&af);
}
