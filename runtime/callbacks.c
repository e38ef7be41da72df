/*
 * callbacks.c — EarlyStopping, ModelCheckpoint, TerminateOnNaN,
 * ReduceLROnPlateau, CSVLogger and LearningRateScheduler with Keras' rules
 * and messages (keras-semantics §8).
 *
 * One deliberate difference: a monitored key that the epoch logs will not
 * have (val_loss without validation data, a misspelt metric) is an error
 * when fit starts, where Keras warns at every epoch and carries on.
 */
#define _POSIX_C_SOURCE 200809L

#include "callbacks.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "metrics.h"
#include "model.h"

/*
 * mode 1 = min, 2 = max, 0 = auto: "loss" (with or without "val_") and
 * error metrics are minimised, accuracies maximised; for other names
 * (add_metric values) "*acc*" means max and "*loss"/"*error" min.
 */
static int resolve_mode(const char *who, const char *monitor, int mode, const klc_model_def *def,
                        int *maximize)
{
    if (mode == 1 || mode == 2) {
        *maximize = mode == 2;
        return 0;
    }
    if (mode != 0)
        return klc_seterr("%s: mode must be 0 (auto), 1 (min) or 2 (max), not %d", who, mode);
    const char *name = strncmp(monitor, "val_", 4) == 0 ? monitor + 4 : monitor;
    if (strcmp(name, "loss") == 0) {
        *maximize = 0;
        return 0;
    }
    for (int i = 0; i < def->n_metrics; i++) {
        if (strcmp(def->metrics[i].name, name) == 0) {
            klc_metric_kind k = def->metrics[i].kind;
            *maximize = k != KLC_METRIC_MEAN_ABSOLUTE_ERROR && k != KLC_METRIC_MEAN_SQUARED_ERROR;
            return 0;
        }
    }
    size_t len = strlen(name);
    if (strstr(name, "acc")) {
        *maximize = 1;
        return 0;
    }
    if ((len >= 4 && strcmp(name + len - 4, "loss") == 0) ||
        (len >= 5 && strcmp(name + len - 5, "error") == 0)) {
        *maximize = 0;
        return 0;
    }
    return klc_seterr("%s received monitor=%s but cannot determine whether that metric should be "
                      "maximized or minimized: pass mode max or min",
                      who, monitor);
}

static int check_monitor(const char *who, const char *monitor, const klc_logs *keys)
{
    if (klc_logs_has(keys, monitor))
        return 0;
    char avail[KLC_MAX_LOGS * (KLC_MAX_NAME + 1)] = "";
    for (int i = 0; i < keys->n; i++) {
        if (i)
            strcat(avail, ",");
        strcat(avail, keys->names[i]);
    }
    return klc_seterr("%s monitors '%s', which is not available (available metrics are: %s)%s",
                      who, monitor, avail,
                      strncmp(monitor, "val_", 4) == 0 ? "; give validation data" : "");
}

int klc_callbacks_begin(klc_callbacks *cb, klc_model *m, const klc_fit_options *opt,
                        const klc_logs *keys, FILE *out)
{
    const klc_model_def *def = m->def;
    memset(cb, 0, sizeof *cb);
    cb->out = out;
    cb->terminate_on_nan = opt->terminate_on_nan;
    if (opt->early_stopping.enabled) {
        cb->es = opt->early_stopping;
        cb->es_monitor = cb->es.monitor ? cb->es.monitor : "val_loss";
        if (cb->es.patience < 0)
            return klc_seterr("EarlyStopping: patience must not be negative, not %d",
                              cb->es.patience);
        if (check_monitor("EarlyStopping", cb->es_monitor, keys) ||
            resolve_mode("EarlyStopping", cb->es_monitor, cb->es.mode, def, &cb->es_maximize))
            return -1;
        if (cb->es.restore_best_weights) {
            cb->best_params = klc_zalloc(def->n_params, sizeof(float));
            cb->best_state = klc_zalloc(def->n_state, sizeof(float));
            if (!cb->best_params || !cb->best_state) {
                klc_callbacks_free(cb);
                return klc_seterr("EarlyStopping: out of memory for a copy of the weights");
            }
        }
    }
    if (opt->reduce_lr.enabled || opt->lr_scheduler.schedule) {
        const klc_lr_schedule_def *sch = &def->optimizer.schedule;
        const char *who = opt->reduce_lr.enabled ? "ReduceLROnPlateau" : "LearningRateScheduler";
        if (sch->kind != KLC_LR_CONSTANT) {
            klc_callbacks_free(cb);
            return klc_seterr("%s: the optimizer's learning rate follows the %s schedule and cannot be "
                              "set (Keras refuses it too)", who, sch->name ? sch->name : "compiled");
        }
    }
    if (opt->reduce_lr.enabled) {
        cb->rl = opt->reduce_lr;
        if (cb->rl.factor == 0.0)
            cb->rl.factor = 0.1;
        cb->rl_monitor = cb->rl.monitor ? cb->rl.monitor : "val_loss";
        if (!(cb->rl.factor < 1.0) || cb->rl.factor < 0.0)
            return klc_seterr("ReduceLROnPlateau does not support a factor >= 1.0 or < 0 (factor %g)",
                              cb->rl.factor);
        if (cb->rl.patience < 0 || cb->rl.cooldown < 0 || !(cb->rl.min_lr >= 0.0))
            return klc_seterr("ReduceLROnPlateau: patience, cooldown and min_lr must not be negative");
        if (check_monitor("ReduceLROnPlateau", cb->rl_monitor, keys) ||
            resolve_mode("ReduceLROnPlateau", cb->rl_monitor, cb->rl.mode, def, &cb->rl_maximize))
            return -1;
    }
    cb->lrs = opt->lr_scheduler;
    if (opt->csv_logger.path) {
        cb->csv = opt->csv_logger;
        const char *sep = cb->csv.separator ? cb->csv.separator : ",";
        if (strlen(sep) != 1 || strchr("\"\r\n", sep[0]))
            return klc_seterr("CSVLogger: the separator must be one character (not a quote or a line "
                              "break), not \"%s\"", sep);
        cb->csv.separator = sep;
        cb->csv_header = 1;
        if (cb->csv.append) {
            FILE *old = fopen(cb->csv.path, "r");
            if (old) {
                int c = fgetc(old);
                cb->csv_header = c == EOF || c == '\n' || c == '\r';
                fclose(old);
            }
        }
        struct stat st;
        const char *why = stat(cb->csv.path, &st) == 0 ? klc_not_regular(st.st_mode) : NULL;
        if (why) {
            klc_callbacks_free(cb);
            return klc_seterr("CSVLogger: %s: %s", cb->csv.path, why);
        }
        cb->csv_fp = fopen(cb->csv.path, cb->csv.append ? "a" : "w");
        if (!cb->csv_fp) {
            klc_callbacks_free(cb);
            return klc_seterr("CSVLogger: cannot open %s: %s", cb->csv.path, strerror(errno));
        }
    }
    if (opt->checkpoint.path) {
        cb->ck = opt->checkpoint;
        cb->ck_monitor = cb->ck.monitor ? cb->ck.monitor : "val_loss";
        if (cb->ck.save_best_only &&
            (check_monitor("ModelCheckpoint", cb->ck_monitor, keys) ||
             resolve_mode("ModelCheckpoint", cb->ck_monitor, cb->ck.mode, def, &cb->ck_maximize))) {
            klc_callbacks_free(cb);
            return -1;
        }
        char path[4096];
        if (klc_format_checkpoint_path(path, sizeof path, cb->ck.path, 1, keys)) {
            klc_callbacks_free(cb);
            return -1;
        }
    }
    return 0;
}

int klc_callbacks_epoch_begin(klc_callbacks *cb, klc_model *m, int epoch)
{
    if (!cb->lrs.schedule)
        return 0;
    /* Keras: schedule(epoch, float(optimizer.learning_rate)), a Python float */
    double lr = cb->lrs.schedule(epoch, (double)m->learning_rate);
    if (!isfinite(lr))
        return klc_seterr("LearningRateScheduler: the schedule gave %g for epoch %d: a learning rate "
                          "must be a finite number", lr, epoch);
    m->learning_rate = (float)lr;
    if (cb->lrs.verbose > 0) {
        char num[64];
        klc_repr_double(num, sizeof num, lr);
        fprintf(cb->out, "\nEpoch %d: LearningRateScheduler setting learning rate to %s.\n", epoch + 1,
                num);
    }
    return 0;
}

int klc_callbacks_need_batch_logs(const klc_callbacks *cb)
{
    return cb->terminate_on_nan; /* the only one klc_callbacks_batch_end reads them for */
}

void klc_callbacks_batch_end(klc_callbacks *cb, int batch, const klc_logs *logs)
{
    if (!cb->terminate_on_nan)
        return;
    double loss = klc_logs_get(logs, "loss");
    if (isnan(loss) || isinf(loss)) {
        fprintf(cb->out, "Batch %d: Invalid loss, terminating training\n", batch);
        cb->stop_training = 1;
        cb->stopped_on_nan = 1;
    }
}

/* Strict improvement: current − min_delta beats best (min: current + |min_delta| < best). */
static int improves(double current, double best, int has_best, int maximize, double min_delta)
{
    if (!has_best)
        return 1;
    double d = fabs(min_delta);
    return maximize ? current - d > best : current + d < best;
}

static void early_stopping_epoch_end(klc_callbacks *cb, klc_model *m, int epoch,
                                     const klc_logs *logs)
{
    const klc_model_def *def = m->def;
    if (epoch < cb->es.start_from_epoch)
        return;
    double current = klc_logs_get(logs, cb->es_monitor);
    if (cb->best_params && !cb->es_has_weights) {
        /* Never improved yet: the current weights are the best so far. */
        memcpy(cb->best_params, m->params, (size_t)def->n_params * sizeof(float));
        memcpy(cb->best_state, m->state, (size_t)def->n_state * sizeof(float));
        cb->es_has_weights = 1;
        cb->es_best_epoch = epoch;
    }
    cb->es_wait++;
    if (improves(current, cb->es_best, cb->es_has_best, cb->es_maximize, cb->es.min_delta)) {
        cb->es_best = current;
        cb->es_has_best = 1;
        cb->es_best_epoch = epoch;
        if (cb->best_params) {
            memcpy(cb->best_params, m->params, (size_t)def->n_params * sizeof(float));
            memcpy(cb->best_state, m->state, (size_t)def->n_state * sizeof(float));
        }
        cb->es_wait = 0;
        return;
    }
    if (cb->es_wait >= cb->es.patience && epoch > 0) {
        cb->es_stopped_epoch = epoch;
        cb->stop_training = 1;
    }
}

/* Python's f"{v:.5f}" ("nan", "inf" without a sign quirk). */
static void format5(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "nan");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "inf" : "-inf");
    else
        snprintf(buf, size, "%.5f", v);
}

/* Keras makes the checkpoint's directory when it is missing. */
static int make_parent_dirs(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0777) && errno != EEXIST)
            return klc_seterr("%s: cannot create directory: %s", dir, strerror(errno));
        *p = '/';
    }
    if (mkdir(dir, 0777) && errno != EEXIST)
        return klc_seterr("%s: cannot create directory: %s", dir, strerror(errno));
    return 0;
}

static int checkpoint_epoch_end(klc_callbacks *cb, klc_model *m, int epoch, const klc_logs *logs)
{
    char path[4096];
    if (klc_format_checkpoint_path(path, sizeof path, cb->ck.path, epoch + 1, logs))
        return -1;
    if (cb->ck.save_best_only) {
        double current = klc_logs_get(logs, cb->ck_monitor);
        char cur[64], best[64];
        format5(cur, sizeof cur, current);
        if (cb->ck_has_best)
            format5(best, sizeof best, cb->ck_best);
        else
            snprintf(best, sizeof best, "None");
        if (!improves(current, cb->ck_best, cb->ck_has_best, cb->ck_maximize, 0.0)) {
            if (cb->ck.verbose > 0)
                fprintf(cb->out, "\nEpoch %d: %s did not improve from %s\n", epoch + 1,
                        cb->ck_monitor, best);
            return 0;
        }
        if (cb->ck.verbose > 0)
            fprintf(cb->out, "\nEpoch %d: %s improved from %s to %s, saving model to %s\n",
                    epoch + 1, cb->ck_monitor, best, cur, path);
        cb->ck_best = current;
        cb->ck_has_best = 1;
    } else if (cb->ck.verbose > 0) {
        fprintf(cb->out, "\nEpoch %d: saving model to %s\n", epoch + 1, path);
    }
    if (make_parent_dirs(path) || klc_save_checkpoint(m, path))
        return klc_seterr_prefix("ModelCheckpoint");
    return 0;
}

/* Keras' ReduceLROnPlateau.on_epoch_end (its cooldown, wait and min_lr rules). */
static void reduce_lr_epoch_end(klc_callbacks *cb, klc_model *m, int epoch, const klc_logs *logs)
{
    double current = klc_logs_get(logs, cb->rl_monitor);
    if (cb->rl_cooldown_counter > 0) {
        cb->rl_cooldown_counter--;
        cb->rl_wait = 0;
    }
    if (improves(current, cb->rl_best, cb->rl_has_best, cb->rl_maximize, cb->rl.min_delta)) {
        cb->rl_best = current;
        cb->rl_has_best = 1;
        cb->rl_wait = 0;
        return;
    }
    if (cb->rl_cooldown_counter > 0 || ++cb->rl_wait < cb->rl.patience)
        return;
    double old_lr = (double)m->learning_rate;
    if (!(old_lr > (double)(float)cb->rl.min_lr))
        return;
    double new_lr = old_lr * cb->rl.factor;
    if (new_lr < cb->rl.min_lr)
        new_lr = cb->rl.min_lr;
    m->learning_rate = (float)new_lr;
    if (cb->rl.verbose > 0) {
        char num[64];
        klc_repr_double(num, sizeof num, new_lr);
        fprintf(cb->out, "\nEpoch %d: ReduceLROnPlateau reducing learning rate to %s.\n", epoch + 1, num);
    }
    cb->rl_cooldown_counter = cb->rl.cooldown;
    cb->rl_wait = 0;
}

/* Keras' CSVLogger.on_epoch_end: the columns are the first epoch's keys,
 * sorted, and when none is a val_ key their val_ twins too (filled "NA");
 * rows end "\r\n" (Python's csv module); numbers as Python prints them. */
static int csv_epoch_end(klc_callbacks *cb, int epoch, const klc_logs *logs)
{
    FILE *f = cb->csv_fp;
    char sep = cb->csv.separator[0];
    if (!cb->csv_has_keys) {
        klc_logs *k = &cb->csv_keys;
        memset(k, 0, sizeof *k);
        int has_val = 0;
        for (int i = 0; i < logs->n; i++) {
            snprintf(k->names[k->n++], KLC_MAX_NAME, "%s", logs->names[i]);
            has_val |= strncmp(logs->names[i], "val_", 4) == 0;
        }
        if (!has_val && logs->n > 0) {
            if (2 * logs->n > KLC_MAX_LOGS)
                return klc_seterr("CSVLogger: too many columns (%d)", 2 * logs->n);
            for (int i = 0; i < logs->n; i++)
                snprintf(k->names[k->n++], KLC_MAX_NAME, "val_%.*s", KLC_MAX_NAME - 5, logs->names[i]);
        }
        cb->csv_has_keys = 1;
        if (cb->csv_header) {
            fputs("epoch", f);
            for (int i = 0; i < k->n; i++)
                fprintf(f, "%c%s", sep, k->names[i]);
            fputs("\r\n", f);
        }
    }
    fprintf(f, "%d", epoch);
    for (int i = 0; i < cb->csv_keys.n; i++) {
        const char *key = cb->csv_keys.names[i];
        char num[64] = "NA";
        if (klc_logs_has(logs, key))
            klc_repr_double(num, sizeof num, klc_logs_get(logs, key));
        fprintf(f, "%c%s", sep, num);
    }
    fputs("\r\n", f);
    if (fflush(f) || ferror(f))
        return klc_seterr("CSVLogger: cannot write %s: %s", cb->csv.path, strerror(errno));
    return 0;
}

int klc_callbacks_epoch_end(klc_callbacks *cb, klc_model *m, int epoch, klc_logs *logs)
{
    if (cb->lrs.schedule || cb->rl.enabled)
        klc_logs_set(logs, "", "learning_rate", (double)m->learning_rate);
    if (cb->rl.enabled)
        reduce_lr_epoch_end(cb, m, epoch, logs);
    if (cb->es.enabled)
        early_stopping_epoch_end(cb, m, epoch, logs);
    if (cb->ck.path && checkpoint_epoch_end(cb, m, epoch, logs))
        return -1;
    if (cb->csv_fp && csv_epoch_end(cb, epoch, logs))
        return -1;
    return 0;
}

int klc_callbacks_end(klc_callbacks *cb, klc_model *m)
{
    if (cb->csv_fp) {
        int bad = fclose(cb->csv_fp) != 0;
        cb->csv_fp = NULL;
        if (bad)
            return klc_seterr("CSVLogger: cannot write %s: %s", cb->csv.path, strerror(errno));
    }
    if (!cb->es.enabled)
        return 0;
    if (cb->es_stopped_epoch > 0 && cb->es.verbose > 0)
        fprintf(cb->out, "Epoch %d: early stopping\n", cb->es_stopped_epoch + 1);
    if (cb->best_params && cb->es_has_weights) {
        if (cb->es.verbose > 0)
            fprintf(cb->out,
                    "Restoring model weights from the end of the best epoch: %d.\n",
                    cb->es_best_epoch + 1);
        memcpy(m->params, cb->best_params, (size_t)m->def->n_params * sizeof(float));
        memcpy(m->state, cb->best_state, (size_t)m->def->n_state * sizeof(float));
    }
    return 0;
}

void klc_callbacks_free(klc_callbacks *cb)
{
    if (cb->csv_fp)
        fclose(cb->csv_fp);
    cb->csv_fp = NULL;
    free(cb->best_params);
    free(cb->best_state);
    cb->best_params = NULL;
    cb->best_state = NULL;
}

/* One "{name[:spec]}" field: spec is [0][width][.precision](d|f|e|g). */
static int format_field(char *out, size_t size, const char *name, const char *spec, int epoch,
                        const klc_logs *logs, const char *pattern)
{
    int is_epoch = strcmp(name, "epoch") == 0;
    if (!is_epoch && !klc_logs_has(logs, name))
        return klc_seterr("checkpoint path '%s': no value '%s' to fill in (the logs have loss, "
                          "metrics and, with validation, val_ keys)", pattern, name);
    double v = is_epoch ? epoch : klc_logs_get(logs, name);
    if (!*spec) {
        if (is_epoch)
            snprintf(out, size, "%d", epoch);
        else
            klc_repr_double(out, size, v);
        return 0;
    }
    size_t n = strlen(spec);
    char type = spec[n - 1];
    int ok = n < 16 && strchr("dfeg", type) != NULL && (type != 'd' || is_epoch);
    for (size_t i = 0; ok && i + 1 < n; i++)
        ok = (spec[i] >= '0' && spec[i] <= '9') || spec[i] == '.';
    if (!ok)
        return klc_seterr("checkpoint path '%s': format '%s' cannot print '%s' (use forms like "
                          "{epoch:02d} or {%s:.2f})", pattern, spec, name, name);
    char fmt[24];
    snprintf(fmt, sizeof fmt, "%%%s", spec);
    if (type == 'd')
        snprintf(out, size, fmt, epoch);
    else
        snprintf(out, size, fmt, v);
    return 0;
}

int klc_format_checkpoint_path(char *buf, size_t size, const char *pattern, int epoch,
                               const klc_logs *logs)
{
    size_t len = 0;
    for (const char *p = pattern; *p;) {
        char piece[256];
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            piece[0] = p[0];
            piece[1] = '\0';
            p += 2;
        } else if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close || close - p > 128)
                return klc_seterr("checkpoint path '%s': unclosed '{'", pattern);
            char field[130];
            memcpy(field, p + 1, (size_t)(close - p - 1));
            field[close - p - 1] = '\0';
            char *colon = strchr(field, ':');
            const char *spec = "";
            if (colon) {
                *colon = '\0';
                spec = colon + 1;
            }
            if (format_field(piece, sizeof piece, field, spec, epoch, logs, pattern))
                return -1;
            p = close + 1;
        } else if (*p == '}') {
            return klc_seterr("checkpoint path '%s': single '}'", pattern);
        } else {
            piece[0] = *p++;
            piece[1] = '\0';
        }
        size_t n = strlen(piece);
        if (len + n >= size)
            return klc_seterr("checkpoint path '%s': too long", pattern);
        memcpy(buf + len, piece, n + 1);
        len += n;
    }
    if (len == 0)
        return klc_seterr("checkpoint path is empty");
    return 0;
}
