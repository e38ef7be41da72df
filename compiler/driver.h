/*
 * driver.h — runs the stages for one invocation of klc.
 *
 * parse and check (sema) -> [derive gradients, plan, emit]; each stage
 * reports its own diagnostics and the driver stops after a stage that
 * found errors.  Output files are written to a temporary name and renamed,
 * so a failed run never leaves a half-written file.
 */
#ifndef KLC_DRIVER_H
#define KLC_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum DriverMode {
    MODE_NONE = 0,
    MODE_TRAIN,      /* -o: training code (model.c, model.h) */
    MODE_INFERENCE,  /* --inference */
    MODE_CHECK,
    MODE_SUMMARY,
    MODE_DOT,
    MODE_DUMP_AST,
    MODE_DUMP_IR
} DriverMode;

typedef struct DriverOptions {
    DriverMode mode;
    const char *input;
    const char *output;
    const char *weights;
    const char *model;      /* --model NAME */
    bool with_main;
    bool no_blas;
    bool color;
    long batch_capacity;
} DriverOptions;

/* Returns the process exit status. */
int driver_run(const DriverOptions *o);

/* Check a program held in memory, in process (tests, fuzzing): parse and
 * check `text` as if read from `path` (imports resolve beside it), print
 * the diagnostics to diag_out, free everything.  Returns 0 when the program
 * checks, 1 when it has errors; *n_errors (may be NULL) gets the number of
 * errors reported. */
int driver_check_source(const char *path, const char *text, size_t len, FILE *diag_out, int *n_errors);

#endif /* KLC_DRIVER_H */
