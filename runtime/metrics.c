/*
 * metrics.c — running loss, compiled metrics and add_metric means (metrics.h).
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"

int klc_tracker_check(const klc_model_def *def)
{
    if (2 * (1 + def->n_metrics + def->n_added_metrics) > KLC_MAX_LOGS)
        return klc_seterr("model '%s' logs %d values; the runtime shows at most %d", def->name,
                          1 + def->n_metrics + def->n_added_metrics, KLC_MAX_LOGS / 2);
    for (int i = 0; i < def->n_metrics + def->n_added_metrics; i++) {
        const char *name = i < def->n_metrics ? def->metrics[i].name
                                              : def->added_metric_names[i - def->n_metrics];
        if (strlen(name) + 4 >= KLC_MAX_NAME)
            return klc_seterr("model '%s': metric name '%s' is longer than %d characters",
                              def->name, name, KLC_MAX_NAME - 5);
    }
    return 0;
}

void klc_tracker_reset(klc_tracker *t, const klc_model_def *def)
{
    memset(t, 0, sizeof *t);
    t->def = def;
}

/* First index of the largest value (first-max ties, as argmax in practice). */
static int64_t argmax(const float *v, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/*
 * Keras computes each metric per position (the last axis reduced), then
 * averages the positions of a sample (reduce_to_samplewise_values), and a
 * sample counts once.
 */
double klc_metric_sample(klc_metric_kind kind, const float *pred, const void *label,
                         int64_t count, int64_t classes)
{
    const int32_t *ids = label;
    const float *dense = label;
    double sum = 0.0;
    switch (kind) {
    case KLC_METRIC_SPARSE_CATEGORICAL_ACCURACY:
    case KLC_METRIC_CATEGORICAL_ACCURACY: {
        int64_t positions = count / classes;
        for (int64_t p = 0; p < positions; p++) {
            int64_t guess = argmax(pred + p * classes, classes);
            int64_t truth = kind == KLC_METRIC_SPARSE_CATEGORICAL_ACCURACY
                                ? ids[p]
                                : argmax(dense + p * classes, classes);
            sum += guess == truth;
        }
        return positions > 0 ? sum / (double)positions : 0.0;
    }
    case KLC_METRIC_BINARY_ACCURACY:
        for (int64_t i = 0; i < count; i++)
            sum += (pred[i] > 0.5f ? 1.0f : 0.0f) == dense[i];
        break;
    case KLC_METRIC_MEAN_ABSOLUTE_ERROR:
        for (int64_t i = 0; i < count; i++)
            sum += fabs((double)dense[i] - (double)pred[i]);
        break;
    case KLC_METRIC_MEAN_SQUARED_ERROR:
        for (int64_t i = 0; i < count; i++) {
            double e = (double)dense[i] - (double)pred[i];
            sum += e * e;
        }
        break;
    }
    return count > 0 ? sum / (double)count : 0.0;
}

void klc_tracker_update(klc_tracker *t, const float *y_pred, const void *y, int64_t n,
                        double loss, const double *added)
{
    const klc_model_def *def = t->def;
    t->loss_sum += loss * (double)n;
    t->rows += n;
    int64_t count = klc_def_output_count(def);
    int64_t classes = klc_def_classes(def);
    int64_t label_count = klc_def_label_count(def);
    for (int k = 0; k < def->n_metrics && y; k++) {
        for (int64_t i = 0; i < n; i++) {
            const void *label = def->labels == KLC_LABELS_SPARSE
                                    ? (const void *)((const int32_t *)y + i * label_count)
                                    : (const void *)((const float *)y + i * label_count);
            t->total[k] += klc_metric_sample(def->metrics[k].kind, y_pred + i * count, label,
                                             count, classes);
        }
    }
    for (int k = 0; k < def->n_added_metrics; k++)
        t->added[k] += added[k];
    t->batches++;
}

void klc_tracker_logs(const klc_tracker *t, const char *prefix, klc_logs *logs)
{
    const klc_model_def *def = t->def;
    double rows = t->rows > 0 ? (double)t->rows : 1.0;
    double batches = t->batches > 0 ? (double)t->batches : 1.0;
    klc_logs_set(logs, prefix, "loss", t->rows > 0 ? t->loss_sum / rows : 0.0);
    for (int k = 0; k < def->n_metrics; k++)
        klc_logs_set(logs, prefix, def->metrics[k].name, t->total[k] / rows);
    for (int k = 0; k < def->n_added_metrics; k++)
        klc_logs_set(logs, prefix, def->added_metric_names[k], t->added[k] / batches);
}

void klc_logs_set(klc_logs *logs, const char *prefix, const char *name, double v)
{
    char key[KLC_MAX_NAME] = { 0 }; /* zero-padded: equal logs compare equal bytewise */
    snprintf(key, sizeof key, "%s%s", prefix, name);
    int i = 0;
    while (i < logs->n && strcmp(logs->names[i], key) < 0)
        i++;
    if (i < logs->n && strcmp(logs->names[i], key) == 0) {
        logs->values[i] = v;
        return;
    }
    if (logs->n == KLC_MAX_LOGS)
        return; /* klc_tracker_check keeps this from happening */
    memmove(logs->names[i + 1], logs->names[i], (size_t)(logs->n - i) * sizeof logs->names[0]);
    memmove(&logs->values[i + 1], &logs->values[i], (size_t)(logs->n - i) * sizeof(double));
    memcpy(logs->names[i], key, sizeof key);
    logs->values[i] = v;
    logs->n++;
}

int klc_logs_has(const klc_logs *logs, const char *name)
{
    for (int i = 0; i < logs->n; i++)
        if (strcmp(logs->names[i], name) == 0)
            return 1;
    return 0;
}

double klc_logs_get(const klc_logs *logs, const char *name)
{
    for (int i = 0; logs && i < logs->n; i++)
        if (strcmp(logs->names[i], name) == 0)
            return logs->values[i];
    return NAN;
}

void klc_repr_double(char *buf, size_t size, double v)
{
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
        return;
    }
    /* Shortest precision that reads back exactly. */
    char sci[64];
    int digits = 1;
    for (; digits < 17; digits++) {
        snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
    int exp10 = atoi(strchr(sci, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        /* Fixed notation with exactly the significant digits needed. */
        int decimals = digits - 1 - exp10;
        snprintf(buf, size, "%.*f", decimals > 0 ? decimals : 0, v);
        if (!strchr(buf, '.') && strlen(buf) + 2 < size)
            strcat(buf, ".0");
        return;
    }
    /* Python: "1e-05", "1.5e+16": mantissa without a trailing ".", two-digit exponent. */
    char mantissa[32];
    size_t mlen = (size_t)(strchr(sci, 'e') - sci);
    memcpy(mantissa, sci, mlen);
    mantissa[mlen] = '\0';
    snprintf(buf, size, "%se%c%02d", mantissa, exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
}
