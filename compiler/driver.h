/*
 * driver.h — runs the stages for one invocation of klc.
 *
 * The stages, each called once per model and only from here:
 *   check    parse and check the program, then finish each model (check/
 *            sema.h): its forward and loss functions in KIR;
 *   prepare  per model, differentiate (gradients, and the diagnostics about
 *            weights without one: right after the model is finished, so a
 *            model's diagnostics come together), then fuse (opt/pipeline.h);
 *   plan     per model acted on, lay out weights and workspace (back/plan.h);
 *   emit     training code, inference code (back/emit_c.h, emit_infer.h).
 * Each stage reports its own diagnostics and the driver stops after a stage
 * that found errors; --dump-ir=STAGE prints the IR after a stage instead.
 * Output files are written to a temporary name and renamed, so a failed run
 * never leaves a half-written file.
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

/* What --dump-ir=STAGE shows: the IR after that stage. */
typedef enum DumpStage {
    DUMP_FUSE = 0,   /* plain --dump-ir: what becomes C */
    DUMP_CHECK,      /* forward and loss, as checked */
    DUMP_AD,         /* with the backward pass */
    DUMP_PLAN        /* after fuse, each function with its memory plan */
} DumpStage;

typedef struct DriverOptions {
    DriverMode mode;
    const char *input;
    const char *output;
    const char *weights;
    const char *model;      /* --model NAME */
    DumpStage dump_stage;   /* MODE_DUMP_IR */
    bool with_main;
    bool data_parallel;     /* --data-parallel (training code only) */
    bool no_blas;
    bool index32;           /* --index-type int32 */
    bool index_type_given;  /* --index-type given (int32 or int64) */
    const char *selftest_x, *selftest_y; /* --selftest X.npy --selftest-expect P.npy */
    const char *quantize;   /* --quantize int8 */
    const char *calibrate;  /* --calibrate X.npy */
    bool color;
    bool no_warnings;         /* -w */
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

/* The whole compiler on a program held in memory, in process (fuzzing):
 * parse and check `text` as if read from `path`, differentiate and fuse,
 * then for every model plan it and emit its training code (models with a
 * compile(...)) and its inference code into memory, all thrown away.  No
 * file is read but `path`'s imports, none is written; diagnostics go to
 * diag_out; everything is freed and exit() is never called for bad input.
 * Returns 0 when the program compiled, 1 when it has errors. */
int driver_compile_source(const char *path, const char *text, size_t len, FILE *diag_out);

#endif /* KLC_DRIVER_H */
