/*
 * emit_infer.h — the standalone inference file (klc --inference).
 *
 * One C file and its header holding the forward pass (training = false) of
 * one planned model (plan_model; its predict function): no klc runtime, no malloc.  The workspace is a static
 * array sized by <MODEL>_BATCH_CAPACITY (overridable with -D), or the
 * caller's buffer.  With --weights the trained weights are static const
 * arrays in the file; without, the caller passes the flat parameter and
 * state arrays (layout in the header).  Matrix products call cblas_sgemm
 * unless KLC_NO_BLAS is defined (or --no-blas was given): then the file
 * needs nothing but libm.  Same input, same bytes.
 */
#ifndef KLC_EMIT_INFER_H
#define KLC_EMIT_INFER_H

#include <stdbool.h>

#include "back/plan.h"
#include "base/cbuf.h"

typedef struct InferOptions {
    const char *c_path, *h_path;
    const char *source;       /* the .kl file */
    const char *weights;      /* safetensors to embed, or NULL */
    bool no_blas;             /* plain loops only */
    /* --index-type int32: loops and subscripts of the forward pass in
     * int32_t; refused (status 1, message) unless one row's largest buffer
     * fits in 2^30 elements for batch_capacity rows; predict_ex then refuses
     * n above <MODEL>_MAX_ROWS.  The int8 file's indices are always int32. */
    bool index32;
    long batch_capacity;      /* default of <MODEL>_BATCH_CAPACITY */
    /* --selftest: inputs (.npy, rows of the model's input) and the outputs
     * the trainer's predict gave for them (.npy, float [rows, output...]);
     * the first SELFTEST_ROWS are embedded with a <model>_selftest()
     * comparing the file's forward pass with them.  Needs `weights`. */
    const char *selftest_x, *selftest_y;
    /* --quantize int8 --calibrate X.npy: for emit_quantized (quant.h),
     * which writes the int8 file instead; emit_inference ignores them. */
    bool quantize;
    const char *calibrate;
    /* When both are set, the files are not written: their text is moved
     * into these (the caller cb_free()s them; tests, fuzzing). */
    CBuf *c_out, *h_out;
} InferOptions;

#define SELFTEST_ROWS 4

/* The weights of pm's model from a safetensors file into fresh flat arrays
 * (pm->wl's layouts; the caller frees them).  Returns 0; 1 if the file is
 * unusable (message naming it); 2 out of memory. */
int infer_load_weights(const PlannedModel *pm, const char *path, float **params, float **state);

/* Returns 0; 1 if the weights or self-test files are unusable (message
 * printed); 2 on I/O errors. */
int emit_inference(Arena *a, const PlannedModel *pm, const InferOptions *o);

#endif /* KLC_EMIT_INFER_H */
