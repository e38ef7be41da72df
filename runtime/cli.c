/*
 * cli.c — klc_main, the trainer program of `klc model.kl --main`
 * (docs/c-api.md and the README): fit / evaluate / predict / summary / gradcheck.
 *
 * Exit status: 0 success; 1 a data, file or training failure (the message
 * names the file; TerminateOnNaN stopping fit is a failure too, unlike
 * Keras, so a script notices the weights are garbage); 2 bad usage (unknown subcommand or flag, missing or
 * malformed value, missing required flag).  Every error is one line on
 * stderr, "<program> <subcommand>: <message>".  Values given as flags
 * override the model's fit settings from the .kl file.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "error.h"
#include "metrics.h"
#include "model.h"
#include "progbar.h"
#include "rng.h"

/* Subcommands, as bits so a flag can list the ones that take it. */
enum { FIT = 1, EVALUATE = 2, PREDICT = 4, SUMMARY = 8, GRADCHECK = 16 };

typedef struct cli_args {
    const char *x, *y, *validation_x, *validation_y, *load, *save, *history, *out;
    const char *checkpoint, *checkpoint_monitor, *es_monitor, *rl_monitor, *csv_log;
    long long epochs, batch_size, verbose, patience, initial_epoch, rl_patience, rl_cooldown;
    long long callback_verbose;
    unsigned long long seed;
    double validation_split, learning_rate, rl_factor, rl_min_delta, rl_min_lr;
    int no_shuffle, restore_best_weights, save_best_only, terminate_on_nan, csv_append;
    int given[48];          /* per flag index: given on the command line */
} cli_args;

typedef struct flag {
    const char *name;
    char kind;              /* 'b' switch, 'i' integer, 'u' unsigned, 'f' number, 's' text */
    int commands;
    size_t offset;          /* of the value in cli_args */
    const char *metavar;
    const char *help;
} flag;

#define ARG(field) offsetof(cli_args, field)
static const flag flags[] = {
    { "--x", 's', FIT | EVALUATE | PREDICT | GRADCHECK, ARG(x), "FILE",
      "inputs (.npy, .csv or IDX)" },
    { "--y", 's', FIT | EVALUATE | GRADCHECK, ARG(y), "FILE", "labels (.npy, .csv or IDX)" },
    { "--epochs", 'i', FIT, ARG(epochs), "N", "index of the last epoch (default: the model's fit)" },
    { "--batch-size", 'i', FIT | EVALUATE | PREDICT, ARG(batch_size), "N",
      "rows per step (default: the model's fit, else 32)" },
    { "--validation-split", 'f', FIT, ARG(validation_split), "V",
      "validate on the last V of the rows, taken before shuffling" },
    { "--validation-x", 's', FIT, ARG(validation_x), "FILE", "validation inputs" },
    { "--validation-y", 's', FIT, ARG(validation_y), "FILE", "validation labels" },
    { "--no-shuffle", 'b', FIT, ARG(no_shuffle), NULL, "keep the rows in order" },
    { "--seed", 'u', FIT | EVALUATE | PREDICT | SUMMARY | GRADCHECK, ARG(seed), "N",
      "seed of initial weights, shuffles and dropout (default 1; a loaded checkpoint's wins)" },
    { "--load", 's', FIT | EVALUATE | PREDICT | SUMMARY | GRADCHECK, ARG(load), "FILE",
      "weights or checkpoint to start from (.safetensors, Keras' .weights.h5 or .keras)" },
    { "--save", 's', FIT, ARG(save), "FILE",
      "write the trained weights (.safetensors; Keras' layout if FILE ends in .h5)" },
    { "--history", 's', FIT, ARG(history), "FILE", "write the per-epoch logs as CSV" },
    { "--verbose", 'i', FIT | EVALUATE | PREDICT, ARG(verbose), "0|1|2",
      "0 silent, 1 progress bar, 2 one line per epoch" },
    { "--initial-epoch", 'i', FIT, ARG(initial_epoch), "N",
      "epoch to start at (default: the one a loaded checkpoint reached, else 0)" },
    { "--early-stopping-patience", 'i', FIT, ARG(patience), "N",
      "EarlyStopping: stop after N epochs without improvement" },
    { "--early-stopping-monitor", 's', FIT, ARG(es_monitor), "KEY",
      "EarlyStopping: the value watched (default val_loss)" },
    { "--restore-best-weights", 'b', FIT, ARG(restore_best_weights), NULL,
      "EarlyStopping: end with the best epoch's weights" },
    { "--checkpoint", 's', FIT, ARG(checkpoint), "PATH",
      "ModelCheckpoint: weights and optimizer state after each epoch ({epoch:02d}, "
      "{val_loss:.2f} placeholders)" },
    { "--checkpoint-monitor", 's', FIT, ARG(checkpoint_monitor), "KEY",
      "ModelCheckpoint: the value watched by --save-best-only (default val_loss)" },
    { "--save-best-only", 'b', FIT, ARG(save_best_only), NULL,
      "ModelCheckpoint: save only when the monitored value improves" },
    { "--terminate-on-nan", 'b', FIT, ARG(terminate_on_nan), NULL,
      "TerminateOnNaN: stop at a NaN or infinite loss" },
    { "--learning-rate", 'f', FIT, ARG(learning_rate), "LR",
      "the optimizer's learning rate (not with a schedule)" },
    { "--reduce-lr-patience", 'i', FIT, ARG(rl_patience), "N",
      "ReduceLROnPlateau: reduce after N epochs without improvement" },
    { "--reduce-lr-monitor", 's', FIT, ARG(rl_monitor), "KEY",
      "ReduceLROnPlateau: the value watched (default val_loss)" },
    { "--reduce-lr-factor", 'f', FIT, ARG(rl_factor), "F", "ReduceLROnPlateau: lr *= F (default 0.1)" },
    { "--reduce-lr-min-delta", 'f', FIT, ARG(rl_min_delta), "D",
      "ReduceLROnPlateau: smallest improvement (default 1e-4)" },
    { "--reduce-lr-cooldown", 'i', FIT, ARG(rl_cooldown), "N",
      "ReduceLROnPlateau: epochs to wait after a reduction" },
    { "--reduce-lr-min-lr", 'f', FIT, ARG(rl_min_lr), "LR", "ReduceLROnPlateau: lower bound" },
    { "--csv-log", 's', FIT, ARG(csv_log), "FILE", "CSVLogger: a row per epoch, written as it ends" },
    { "--csv-append", 'b', FIT, ARG(csv_append), NULL, "CSVLogger: append to the file" },
    { "--callback-verbose", 'i', FIT, ARG(callback_verbose), "0|1",
      "the callbacks' messages (default: each callback's verbose, Keras' 0)" },
    { "--out", 's', PREDICT, ARG(out), "FILE", "where predict writes the predictions (.npy or .csv, by extension)" },
};
#define N_FLAGS ((int)(sizeof flags / sizeof flags[0]))
_Static_assert(sizeof flags / sizeof flags[0] <= sizeof ((cli_args *)0)->given / sizeof(int),
               "cli_args.given has room for every flag");

typedef struct command {
    const char *name;
    int bit;
    const char *usage;
    const char *summary;
} command;

static const command commands[] = {
    { "fit", FIT, "--x FILE --y FILE [options]", "train (Keras' model.fit)" },
    { "evaluate", EVALUATE, "--x FILE --y FILE --load FILE [options]",
      "loss and metrics on a data set (model.evaluate)" },
    { "predict", PREDICT, "--x FILE --load FILE --out FILE [options]",
      "outputs for every row, written as .npy (model.predict)" },
    { "summary", SUMMARY, "", "the layer table (model.summary)" },
    { "gradcheck", GRADCHECK, "[--x FILE --y FILE] [options]",
      "derived gradients against finite differences, per weight" },
};
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

/* Largest relative error gradcheck accepts. */
#define GRADCHECK_TOLERANCE 1e-6

static const char *program_name(const char *argv0, const klc_model_def *def)
{
    if (!argv0 || !*argv0)
        return def->name;
    const char *slash = strrchr(argv0, '/');
    return slash ? slash + 1 : argv0;
}

static void print_program_help(FILE *out, const char *prog, const klc_model_def *def)
{
    fprintf(out, "usage: %s <subcommand> [options]\n\n", prog);
    fprintf(out, "Trains and runs model '%s'%s%s%s, Keras-style.\n\nsubcommands:\n", def->name,
            def->source ? " (from " : "", def->source ? def->source : "", def->source ? ")" : "");
    for (int i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'%s <subcommand> --help' lists the options of one.  Exit status: 0 done, "
                 "1 failed (data, files, training), 2 bad usage.\n", prog);
}

static void print_command_help(FILE *out, const char *prog, const command *c)
{
    fprintf(out, "usage: %s %s %s\n\n%s.\n\noptions:\n", prog, c->name, c->usage, c->summary);
    for (int i = 0; i < N_FLAGS; i++) {
        if (!(flags[i].commands & c->bit))
            continue;
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", flags[i].name, flags[i].metavar ? " " : "",
                 flags[i].metavar ? flags[i].metavar : "");
        fprintf(out, "  %-32s %s\n", left, flags[i].help);
    }
    fprintf(out, "  %-32s %s\n", "--help", "show this help");
}

/* Under mpirun, ranks other than 0 print no failure: every failure there is
 * one the ranks agreed on (klc_dist_agree) or that every rank meets (a
 * usage error), which rank 0 prints. */
static int quiet_failures;

/* Usage error: one line, status 2. */
static int usage_error(const char *prog, const char *cmd, const char *fmt, ...) KLC_PRINTF(3, 4);
static int usage_error(const char *prog, const char *cmd, const char *fmt, ...)
{
    if (quiet_failures)
        return 2;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s%s%s: ", prog, cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s%s%s --help')\n", prog, cmd ? " " : "", cmd ? cmd : "");
    return 2;
}

/* Runtime failure: one line with klc_last_error(), status 1. */
static int failure(const char *prog, const char *cmd)
{
    if (!quiet_failures)
        fprintf(stderr, "%s %s: %s\n", prog, cmd, klc_last_error());
    return 1;
}

/* Whether this process writes the group's files (rank 0, or no group). */
static int writes_files(const klc_model *m)
{
    return !m->dist || m->dist->rank == 0;
}

/* With a group, the outcome `bad` of a step each rank took alone becomes
 * the group's (dist.h); else bad itself. */
static int agreed(const klc_model *m, int bad)
{
    return m->dist ? klc_dist_agree(m->dist, bad) != 0 : bad;
}

static int find_flag(const char *name, size_t len)
{
    for (int i = 0; i < N_FLAGS; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return i;
    return -1;
}

static int is_given(const cli_args *a, const char *name)
{
    int i = find_flag(name, strlen(name));
    return i >= 0 && a->given[i];
}

/* Parse argv[first..argc) for command c.  Returns 0, 1 for --help (printed),
 * or 2 after printing a usage error. */
static int parse_flags(cli_args *a, const command *c, const char *prog, int first, int argc,
                       char **argv)
{
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_command_help(stdout, prog, c);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return usage_error(prog, c->name, "unexpected argument '%s'", arg);
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        int f = find_flag(arg, len);
        if (f < 0 || !(flags[f].commands & c->bit)) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(len < 100 ? len : 100), arg);
            return usage_error(prog, c->name, "unknown flag '%s'", name);
        }
        const flag *fl = &flags[f];
        char *dst = (char *)a + fl->offset;
        a->given[f] = 1;
        if (fl->kind == 'b') {
            if (eq)
                return usage_error(prog, c->name, "%s takes no value", fl->name);
            *(int *)dst = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value)
            return usage_error(prog, c->name, "%s needs a value (%s)", fl->name, fl->metavar);
        char *end = NULL;
        errno = 0;
        switch (fl->kind) {
        case 's':
            if (!*value)
                return usage_error(prog, c->name, "%s needs a value (%s)", fl->name, fl->metavar);
            *(const char **)dst = value;
            break;
        case 'i': {
            long long v = strtoll(value, &end, 10);
            if (!*value || *end || errno || v < 0 || v > 1000000000)
                return usage_error(prog, c->name, "%s: '%s' is not a whole number from 0 to 1e9",
                                   fl->name, value);
            *(long long *)dst = v;
            break;
        }
        case 'u': {
            unsigned long long v = strtoull(value, &end, 10);
            if (!*value || *end || errno || value[0] == '-')
                return usage_error(prog, c->name, "%s: '%s' is not a non-negative integer",
                                   fl->name, value);
            *(unsigned long long *)dst = v;
            break;
        }
        case 'f': {
            double v = strtod(value, &end);
            if (!*value || *end || errno || !isfinite(v))
                return usage_error(prog, c->name, "%s: '%s' is not a number", fl->name, value);
            *(double *)dst = v;
            break;
        }
        }
    }
    return 0;
}

/* Load a data file named by a flag; the message names the flag and the file. */
static int load_data(klc_tensor *t, const char *flag_name, const char *path)
{
    if (klc_data_load(t, path))
        return klc_seterr_prefix(flag_name);
    return 0;
}

/* The data files as messages name them: "--y y.npy: label 7 in row 5 is not a
 * class id in [0, 3)", "--x x.npy has 64 rows but --y y.npy has 60". */
typedef struct file_names {
    char x[4200], y[4200], validation_x[4200], validation_y[4200];
    klc_data_names names;
} file_names;

static void flag_and_file(char *buf, size_t size, const char *flag_name, const char *path)
{
    snprintf(buf, size, "%s%s%s", flag_name, path ? " " : "", path ? path : "");
}

static const klc_data_names *name_files(file_names *fn, const cli_args *a)
{
    flag_and_file(fn->x, sizeof fn->x, "--x", a->x);
    flag_and_file(fn->y, sizeof fn->y, "--y", a->y);
    flag_and_file(fn->validation_x, sizeof fn->validation_x, "--validation-x", a->validation_x);
    flag_and_file(fn->validation_y, sizeof fn->validation_y, "--validation-y", a->validation_y);
    fn->names.x = fn->x;
    fn->names.y = fn->y;
    fn->names.validation_x = fn->validation_x;
    fn->names.validation_y = fn->validation_y;
    return &fn->names;
}

static void print_logs_line(FILE *out, const klc_logs *logs)
{
    for (int i = 0; i < logs->n; i++) {
        char v[64];
        klc_format_log_value(v, sizeof v, logs->values[i]);
        fprintf(out, "%s%s: %s", i ? " - " : "", logs->names[i], v);
    }
    fputc('\n', out);
}

/* ---------------------------------------------------------------------------
 * Subcommands.  Each gets a model (weights loaded when --load was given) and
 * returns the exit status.
 * ------------------------------------------------------------------------- */

static int run_fit(klc_model *m, const cli_args *a, const char *prog, int loaded_epoch)
{
    const klc_model_def *def = m->def;
    klc_tensor x = { 0 }, y = { 0 }, vx = { 0 }, vy = { 0 };
    klc_history history = { 0 };
    int status = 1;
    int bad = load_data(&x, "--x", a->x) || (a->y && load_data(&y, "--y", a->y)) ||
              (a->validation_x && load_data(&vx, "--validation-x", a->validation_x)) ||
              (a->validation_y && load_data(&vy, "--validation-y", a->validation_y));
    if (agreed(m, bad)) /* a rank that cannot read its data stops them all */
        goto done;
    klc_fit_options opt = { 0 };
    opt.epochs = is_given(a, "--epochs") ? (int)a->epochs : def->fit.epochs;
    opt.batch_size = is_given(a, "--batch-size") ? (int)a->batch_size : def->fit.batch_size;
    opt.verbose = is_given(a, "--verbose") ? (int)a->verbose : def->fit.verbose;
    opt.validation_split = is_given(a, "--validation-split") ? a->validation_split
                                                               : def->fit.validation_split;
    if (a->validation_x) { /* it overrides validation_split */
        opt.validation_x = &vx;
        opt.validation_y = a->validation_y ? &vy : NULL;
    }
    opt.no_shuffle = a->no_shuffle || !def->fit.shuffle;
    opt.initial_epoch = is_given(a, "--initial-epoch") ? (int)a->initial_epoch : loaded_epoch;
    /* callbacks: the .kl file's fit(callbacks = [...]), each setting overridable by a flag;
     * silent unless their verbose (or --callback-verbose) says otherwise, as in Keras */
    int cv_given = is_given(a, "--callback-verbose");
    int callback_verbose = (int)a->callback_verbose;
    const klc_fit_def *fd = &def->fit;
    if (fd->early_stopping) {
        opt.early_stopping.enabled = 1;
        opt.early_stopping.monitor = fd->es_monitor;
        opt.early_stopping.min_delta = fd->es_min_delta;
        opt.early_stopping.patience = fd->es_patience;
        opt.early_stopping.restore_best_weights = fd->es_restore_best_weights;
        opt.early_stopping.verbose = cv_given ? callback_verbose : fd->es_verbose;
    }
    if (is_given(a, "--early-stopping-patience") || a->es_monitor || a->restore_best_weights) {
        opt.early_stopping.enabled = 1;
        if (a->es_monitor)
            opt.early_stopping.monitor = a->es_monitor;
        if (is_given(a, "--early-stopping-patience"))
            opt.early_stopping.patience = (int)a->patience;
        if (a->restore_best_weights)
            opt.early_stopping.restore_best_weights = 1;
        if (cv_given)
            opt.early_stopping.verbose = callback_verbose;
    }
    if (fd->checkpoint_path) {
        opt.checkpoint.path = fd->checkpoint_path;
        opt.checkpoint.monitor = fd->checkpoint_monitor;
        opt.checkpoint.save_best_only = fd->checkpoint_best_only;
        opt.checkpoint.verbose = cv_given ? callback_verbose : fd->checkpoint_verbose;
    }
    if (a->checkpoint) {
        opt.checkpoint.path = a->checkpoint;
        if (a->checkpoint_monitor)
            opt.checkpoint.monitor = a->checkpoint_monitor;
        if (a->save_best_only)
            opt.checkpoint.save_best_only = 1;
        if (cv_given)
            opt.checkpoint.verbose = callback_verbose;
    }
    opt.terminate_on_nan = a->terminate_on_nan || fd->terminate_on_nan;
    klc_reduce_lr_on_plateau *rl = &opt.reduce_lr;
    if (fd->reduce_lr) {
        rl->enabled = 1;
        rl->monitor = fd->rl_monitor;
        rl->factor = fd->rl_factor;
        rl->patience = fd->rl_patience;
        rl->verbose = fd->rl_verbose;
        rl->mode = fd->rl_mode;
        rl->min_delta = fd->rl_min_delta;
        rl->cooldown = fd->rl_cooldown;
        rl->min_lr = fd->rl_min_lr;
    }
    static const char *const rl_flags[] = { "--reduce-lr-patience", "--reduce-lr-monitor",
                                            "--reduce-lr-factor", "--reduce-lr-min-delta",
                                            "--reduce-lr-cooldown", "--reduce-lr-min-lr" };
    for (int i = 0; i < 6 && !rl->enabled; i++)
        if (is_given(a, rl_flags[i])) { /* a flag turns it on with Keras' defaults */
            rl->enabled = 1;
            rl->factor = 0.1;
            rl->patience = 10;
            rl->min_delta = 1e-4;
        }
    if (a->rl_monitor)
        rl->monitor = a->rl_monitor;
    if (is_given(a, "--reduce-lr-patience"))
        rl->patience = (int)a->rl_patience;
    if (is_given(a, "--reduce-lr-factor"))
        rl->factor = a->rl_factor;
    if (is_given(a, "--reduce-lr-min-delta"))
        rl->min_delta = a->rl_min_delta;
    if (is_given(a, "--reduce-lr-cooldown"))
        rl->cooldown = (int)a->rl_cooldown;
    if (is_given(a, "--reduce-lr-min-lr"))
        rl->min_lr = a->rl_min_lr;
    if (cv_given)
        rl->verbose = callback_verbose;
    opt.csv_logger.path = a->csv_log ? a->csv_log : fd->csv_path;
    opt.csv_logger.separator = fd->csv_separator;
    opt.csv_logger.append = a->csv_log ? a->csv_append : fd->csv_append || a->csv_append;
    opt.lr_scheduler.schedule = fd->lr_scheduler;
    opt.lr_scheduler.verbose = cv_given ? callback_verbose : fd->lr_scheduler_verbose;
    if (is_given(a, "--learning-rate") && klc_model_set_learning_rate(m, a->learning_rate)) {
        klc_seterr_prefix("--learning-rate");
        goto done;
    }
    fflush(stdout);
    file_names fn;
    if (klc_fit_named(m, &x, a->y ? &y : NULL, &opt, &history, name_files(&fn, a)))
        goto done;
    if (history.stopped_on_nan) {
        /* Keras' fit returns normally; a program's status must say the weights are garbage */
        klc_seterr("training stopped by TerminateOnNaN: the loss became NaN or infinite "
                   "(--save not written)");
        goto done;
    }
    if (a->history && writes_files(m) && klc_history_write_csv(&history, a->history)) {
        klc_seterr_prefix("--history");
        goto done;
    }
    if (a->save && writes_files(m) && klc_save_weights(m, a->save)) {
        klc_seterr_prefix("--save");
        goto done;
    }
    status = 0;
done:
    fflush(stdout);
    if (status)
        failure(prog, "fit");
    klc_history_free(&history);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    klc_tensor_free(&vx);
    klc_tensor_free(&vy);
    return status;
}

static int run_evaluate(klc_model *m, const cli_args *a, const char *prog)
{
    klc_tensor x = { 0 }, y = { 0 };
    int status = 1;
    if (agreed(m, load_data(&x, "--x", a->x) || load_data(&y, "--y", a->y)))
        goto done;
    klc_eval_options opt = { 0 };
    opt.batch_size = (int)a->batch_size;
    opt.verbose = is_given(a, "--verbose") ? (int)a->verbose : 1;
    klc_logs logs;
    file_names fn;
    if (klc_evaluate_named(m, &x, &y, &opt, &logs, name_files(&fn, a))) /* agreed inside */
        goto done;
    print_logs_line(stdout, &logs);
    status = 0;
done:
    fflush(stdout);
    if (status)
        failure(prog, "evaluate");
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return status;
}

static int run_predict(klc_model *m, const cli_args *a, const char *prog)
{
    klc_tensor x = { 0 }, out = { 0 };
    int status = 1;
    if (load_data(&x, "--x", a->x))
        goto done;
    klc_eval_options opt = { 0 };
    opt.batch_size = (int)a->batch_size;
    opt.verbose = is_given(a, "--verbose") ? (int)a->verbose : 1;
    file_names fn;
    if (klc_predict_named(m, &x, &opt, &out, name_files(&fn, a)))
        goto done;
    if (klc_data_save(&out, a->out)) {
        klc_seterr_prefix("--out");
        goto done;
    }
    status = 0;
done:
    fflush(stdout);
    if (status)
        failure(prog, "predict");
    klc_tensor_free(&x);
    klc_tensor_free(&out);
    return status;
}

/*
 * Random data of the model's shapes for gradcheck without files: a few rows
 * of standard normal inputs (ids 0 or 1 for integer inputs) and labels the
 * loss accepts (class ids, 0/1 for binary crossentropy, one-hot rows for
 * categorical crossentropy, normal values otherwise).
 */
#define RANDOM_ROWS 4
static int random_data(const klc_model_def *def, uint64_t seed, klc_tensor *x, klc_tensor *y)
{
    int64_t shape[KLC_MAX_RANK + 1];
    shape[0] = RANDOM_ROWS;
    memcpy(shape + 1, def->input_shape, (size_t)def->input_rank * sizeof(int64_t));
    if (klc_tensor_alloc(x, def->input_dtype, def->input_rank + 1, shape))
        return -1;
    klc_rng r;
    klc_rng_init(&r, seed, KLC_RNG_DATA, 0);
    int64_t nx = klc_tensor_count(x);
    for (int64_t i = 0; i < nx; i++) {
        if (def->input_dtype == KLC_I32)
            ((int32_t *)x->data)[i] = (int32_t)klc_rng_below(&r, 2);
        else
            ((float *)x->data)[i] = (float)klc_rng_normal(&r);
    }
    if (def->labels == KLC_LABELS_NONE)
        return 0;
    int sparse = def->labels == KLC_LABELS_SPARSE;
    int rank = sparse ? def->output_rank - 1 : def->output_rank;
    memcpy(shape + 1, def->output_shape, (size_t)rank * sizeof(int64_t));
    if (klc_tensor_alloc(y, sparse ? KLC_I32 : KLC_F32, rank + 1, shape))
        return -1;
    klc_rng_init(&r, seed, KLC_RNG_DATA, 1);
    int64_t ny = klc_tensor_count(y);
    int64_t classes = klc_def_classes(def);
    for (int64_t i = 0; i < ny; i++) {
        if (sparse) {
            ((int32_t *)y->data)[i] = (int32_t)klc_rng_below(&r, (uint64_t)classes);
        } else if (def->loss == KLC_LOSS_CATEGORICAL_CROSSENTROPY) {
            if (i % classes == 0) /* one-hot row */
                ((float *)y->data)[i + (int64_t)klc_rng_below(&r, (uint64_t)classes)] = 1.0f;
        } else if (def->loss == KLC_LOSS_BINARY_CROSSENTROPY) {
            ((float *)y->data)[i] = (float)klc_rng_below(&r, 2);
        } else {
            ((float *)y->data)[i] = (float)klc_rng_normal(&r);
        }
    }
    return 0;
}

static int run_gradcheck(klc_model *m, const cli_args *a, const char *prog)
{
    klc_tensor x = { 0 }, y = { 0 };
    int status = 1;
    if (a->x) {
        if (load_data(&x, "--x", a->x) || (a->y && load_data(&y, "--y", a->y)))
            goto done;
    } else if (random_data(m->def, m->seed, &x, &y)) {
        goto done;
    }
    double worst = 0.0;
    file_names fn;
    if (klc_gradcheck_named(m, &x, y.data ? &y : NULL, stdout, &worst,
                            a->x ? name_files(&fn, a) : &klc_api_names))
        goto done;
    if (worst < GRADCHECK_TOLERANCE) {
        printf("gradcheck passed (tolerance %.0e)\n", GRADCHECK_TOLERANCE);
        status = 0;
    } else if (isnan(worst)) {
        klc_seterr("gradients could not be checked: a loss or a gradient is not a number "
                   "(NaN or Inf in the data or the weights?)");
    } else {
        klc_seterr("gradients disagree with finite differences: max relative error %.3e "
                   "(tolerance %.0e)", worst, GRADCHECK_TOLERANCE);
    }
done:
    fflush(stdout);
    if (status)
        failure(prog, "gradcheck");
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return status;
}

/* Required flags and combinations, checked before any file is touched. */
static int check_required(const cli_args *a, const command *c, const klc_model_def *def,
                          const char *prog)
{
    const char *need[3] = { NULL, NULL, NULL };
    if (c->bit == FIT) {
        need[0] = a->x ? NULL : "--x";
        need[1] = a->y || def->labels == KLC_LABELS_NONE ? NULL : "--y";
    } else if (c->bit == EVALUATE) {
        need[0] = a->x ? NULL : "--x";
        need[1] = a->y || def->labels == KLC_LABELS_NONE ? NULL : "--y";
        need[2] = a->load ? NULL : "--load";
    } else if (c->bit == PREDICT) {
        need[0] = a->x ? NULL : "--x";
        need[1] = a->load ? NULL : "--load";
        need[2] = a->out ? NULL : "--out";
    } else if (c->bit == GRADCHECK) {
        if (!a->x && a->y)
            return usage_error(prog, c->name, "--y needs --x");
        need[0] = !a->x || a->y || def->labels == KLC_LABELS_NONE ? NULL : "--y";
    }
    for (int i = 0; i < 3; i++)
        if (need[i])
            return usage_error(prog, c->name, "missing required flag %s", need[i]);
    if (c->bit == FIT) {
        if (a->validation_x && !a->validation_y && def->labels != KLC_LABELS_NONE)
            return usage_error(prog, c->name, "--validation-x needs --validation-y");
        if (a->validation_y && !a->validation_x)
            return usage_error(prog, c->name, "--validation-y needs --validation-x");
        if (is_given(a, "--validation-split") &&
            !(a->validation_split >= 0.0 && a->validation_split < 1.0))
            return usage_error(prog, c->name, "--validation-split must be in [0, 1)");
        if ((a->save_best_only || a->checkpoint_monitor) && !a->checkpoint)
            return usage_error(prog, c->name, "%s needs --checkpoint",
                               a->save_best_only ? "--save-best-only" : "--checkpoint-monitor");
        if (is_given(a, "--epochs") && a->epochs < 1)
            return usage_error(prog, c->name, "--epochs must be at least 1");
    }
    if (is_given(a, "--batch-size") && a->batch_size < 1)
        return usage_error(prog, c->name, "--batch-size must be at least 1");
    if (is_given(a, "--verbose") && a->verbose > 2)
        return usage_error(prog, c->name, "--verbose must be 0, 1 or 2");
    return 0;
}

static int main_body(const klc_model_def *def, int argc, char **argv, klc_dist *group);

/*
 * Started by mpirun (and the runtime built with KLC_WITH_MPI), the trainer
 * is one rank of a data-parallel group (docs/distributed.md): fit and
 * evaluate run on every rank, rank 0 alone prints and writes files; the
 * other subcommands run on rank 0 alone.
 */
int klc_main(const klc_model_def *def, int argc, char **argv)
{
    klc_dist *group = klc_dist_world(&argc, &argv);
    if (group && group->size < 2)
        group = NULL; /* one rank: a plain process */
    if (group && group->rank != 0) {
        quiet_failures = 1;
        if (!freopen("/dev/null", "w", stdout)) /* rank 0 prints for the group */
            quiet_failures = 0;
    }
    int status = main_body(def, argc, argv, group);
    fflush(stdout);
    klc_dist_finalize();
    return status;
}

static int main_body(const klc_model_def *def, int argc, char **argv, klc_dist *group)
{
    const char *prog = program_name(argc > 0 ? argv[0] : NULL, def);
    if (argc < 2) {
        fprintf(stderr, "%s: missing subcommand (fit, evaluate, predict, summary, gradcheck; "
                        "see '%s --help')\n", prog, prog);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_program_help(stdout, prog, def);
        return 0;
    }
    const command *c = NULL;
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            c = &commands[i];
    if (!c)
        return usage_error(prog, NULL, "unknown subcommand '%s'%s", argv[1],
                           " (fit, evaluate, predict, summary, gradcheck)");
    cli_args a;
    memset(&a, 0, sizeof a);
    a.seed = 1;
    int rc = parse_flags(&a, c, prog, 2, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((rc = check_required(&a, c, def, prog)))
        return rc;
    if (group && c->bit != FIT && c->bit != EVALUATE) {
        if (group->rank != 0)
            return 0; /* predict, summary and gradcheck: rank 0's work */
        group = NULL;
    }

    klc_model *m = klc_model_new(def, a.seed);
    if (!m) {
        fprintf(stderr, "%s %s: %s\n", prog, c->name, klc_last_error());
        return 1;
    }
    m->dist = group;
    int loaded_epoch = 0;
    if (a.load) {
        int bad = klc_load_weights(m, a.load) != 0 && klc_seterr_prefix("--load");
        if (agreed(m, bad)) { /* every rank resumes, or none */
            int status = failure(prog, c->name);
            klc_model_free(m);
            return status;
        }
        loaded_epoch = m->epoch;
    }
    int status = 0;
    switch (c->bit) {
    case FIT: status = run_fit(m, &a, prog, loaded_epoch); break;
    case EVALUATE: status = run_evaluate(m, &a, prog); break;
    case PREDICT: status = run_predict(m, &a, prog); break;
    case SUMMARY:
        klc_model_summary(m, stdout, 0);
        fflush(stdout);
        break;
    case GRADCHECK: status = run_gradcheck(m, &a, prog); break;
    }
    klc_model_free(m);
    return status;
}
