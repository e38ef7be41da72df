/*
 * emit_c.h — C code generation.
 *
 * emit_training writes the training code of the given planned models
 * (plan_model; the driver prepares and plans them): for each, a
 * klc_model_def (klc/abi.h) whose step functions are specialised C —
 * train_step (forward with training = true, loss, backward, clipping and the
 * optimizer's update, assign() commits), test_step (forward with training =
 * false, loss), predict_step (forward only), and grad_f64 (forward and
 * backward in double, for gradient checking) — plus a header declaring the
 * defs.  Contractions that map onto a matrix product call cblas_sgemm
 * (cblas_dgemm in double); everything else is a loop nest per map.  The
 * output depends only on the input program: byte-identical across runs.
 */
#ifndef KLC_EMIT_C_H
#define KLC_EMIT_C_H

#include <stdbool.h>

#include "back/plan.h"
#include "base/cbuf.h"

typedef struct EmitOptions {
    const char *c_path;       /* model.c */
    const char *h_path;       /* model.h */
    const char *source;       /* the .kl file, for comments and the def */
    bool with_main;           /* append main() calling klc_main */
    bool data_parallel;       /* --data-parallel: train_step calls s->grads_ready between
                                 backward and update (klc/abi.h), for fit over MPI */
    /* When both are set, the files are not written: the text of model.c
     * and model.h is moved into these (the caller cb_free()s them; tests,
     * fuzzing).  c_path and h_path still name the files in the text. */
    CBuf *c_out, *h_out;
} EmitOptions;

/* Returns 0, or -1 with a message on stderr (I/O errors). */
int emit_training(Arena *a, PlannedModel *const *models, int n_models, const EmitOptions *o);

#endif /* KLC_EMIT_C_H */
