/* emit_infer.c — the standalone inference file; see emit_infer.h. */
#include "back/emit_infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cbuf.h"
#include "back/codegen.h"
#include "back/plan.h"
#include "fileio.h"
#include "safetensors.h"

#include "klc/runtime.h"

#ifndef KLC_VERSION
#define KLC_VERSION "0.1.0"
#endif

static const char *upper(Arena *a, const char *s)
{
    char *r = arena_strdup(a, s);
    for (char *p = r; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return r;
}

/* Read every weight of m from a safetensors file into params/state (the
 * flat layouts of wl).  Returns 0, or 1 with a message naming the file. */
static int load_weights(const Model *m, const WeightLayout *wl, const char *path, float *params, float *state)
{
    klc_st_file f;
    if (klc_st_read(&f, path) != 0) {
        fprintf(stderr, "klc: %s\n", klc_last_error());
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < m->weights.len && !rc; i++) {
        const Weight *w = m->weights.items[i];
        const klc_st_tensor *t = klc_st_find(&f, w->key);
        if (!t) {
            fprintf(stderr, "klc: %s: no tensor '%s' (model '%s' needs %s %s)\n", path, w->key, m->var, w->key,
                    "of its shape");
            rc = 1;
            break;
        }
        bool same = t->rank == w->shape.rank;
        for (int j = 0; same && j < t->rank; j++)
            same = t->shape[j] == w->shape.d[j].c;
        if (!same) {
            fprintf(stderr, "klc: %s: tensor '%s' has shape [", path, w->key);
            for (int j = 0; j < t->rank; j++)
                fprintf(stderr, "%s%lld", j ? ", " : "", (long long)t->shape[j]);
            fprintf(stderr, "], but model '%s' expects [", m->var);
            for (int j = 0; j < w->shape.rank; j++)
                fprintf(stderr, "%s%lld", j ? ", " : "", (long long)w->shape.d[j].c);
            fprintf(stderr, "]\n");
            rc = 1;
            break;
        }
        float *dst = (w->trainable ? params : state) + wl->offset[i];
        if (t->dtype == KLC_F32) {
            memcpy(dst, t->data, sizeof(float) * (size_t)w->size);
        } else if (t->dtype == KLC_F64) {
            for (int64_t k = 0; k < w->size; k++) {
                double d;
                memcpy(&d, (const unsigned char *)t->data + k * 8, 8);
                dst[k] = (float)d;
            }
        } else {
            fprintf(stderr, "klc: %s: tensor '%s' is %s; weights must be float32 or float64\n", path, w->key,
                    klc_dtype_name(t->dtype));
            rc = 1;
        }
    }
    klc_st_free(&f);
    return rc;
}

static void emit_array(CBuf *b, Arena *a, const char *name, const float *v, int64_t n)
{
    cb_printf(b, "static const float %s[%lld] = {\n", name, (long long)(n ? n : 1));
    if (n == 0)
        cb_printf(b, "    0");
    for (int64_t i = 0; i < n; i++) {
        if (i % 8 == 0)
            cb_printf(b, "%s    ", i ? "\n" : "");
        cb_printf(b, "%s,%s", cg_real(a, v[i], false), i % 8 == 7 ? "" : " ");
    }
    cb_printf(b, "\n};\n\n");
}

static void emit_int_array(CBuf *b, const char *name, const int32_t *v, int64_t n)
{
    cb_printf(b, "static const int32_t %s[%lld] = {\n", name, (long long)n);
    for (int64_t i = 0; i < n; i++)
        cb_printf(b, "%s%ld,%s", i % 16 == 0 ? (i ? "\n    " : "    ") : "", (long)v[i], i % 16 == 15 ? "" : " ");
    cb_printf(b, "\n};\n\n");
}

/* Does t hold rows shaped as `want` without its batch dimension? */
static bool rows_shaped(const klc_tensor *t, const Shape *want)
{
    if (t->rank != want->rank || t->shape[0] < 1)
        return false;
    for (int j = 1; j < t->rank; j++)
        if (t->shape[j] != want->d[j].c)
            return false;
    return true;
}

static void shape_msg(char *buf, size_t size, const klc_tensor *t)
{
    klc_shape_str(buf, size, t->rank, t->shape);
}

/* The self-test's files: the inputs as the model's input type, the expected
 * outputs as float32, and the rows embedded.  Returns 0, or 1 with a message
 * naming the file. */
static int load_selftest(Arena *a, const Model *m, const InferOptions *o, klc_tensor *x, klc_tensor *y,
                         int64_t *rows)
{
    klc_tensor rx, ry;
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    if (klc_npy_load(&rx, o->selftest_x) != 0) {
        fprintf(stderr, "klc: %s\n", klc_last_error());
        return 1;
    }
    if (klc_npy_load(&ry, o->selftest_y) != 0) {
        fprintf(stderr, "klc: %s\n", klc_last_error());
        klc_tensor_free(&rx);
        return 1;
    }
    char got[192];
    int rc = 0;
    if (!rows_shaped(&rx, &m->input_shape)) {
        shape_msg(got, sizeof got, &rx);
        fprintf(stderr, "klc: %s: inputs of shape %s, but model '%s' takes rows of %s\n", o->selftest_x, got, m->var,
                shape_str(a, &m->input_shape));
        rc = 1;
    } else if (!rows_shaped(&ry, &m->output_shape)) {
        shape_msg(got, sizeof got, &ry);
        fprintf(stderr, "klc: %s: outputs of shape %s, but model '%s' gives rows of %s (the file of the trainer's "
                "predict --out)\n", o->selftest_y, got, m->var, shape_str(a, &m->output_shape));
        rc = 1;
    } else if (ry.shape[0] < rx.shape[0] && ry.shape[0] < SELFTEST_ROWS) {
        fprintf(stderr, "klc: %s: %lld rows of outputs for the %lld rows of %s\n", o->selftest_y,
                (long long)ry.shape[0], (long long)rx.shape[0], o->selftest_x);
        rc = 1;
    } else if (klc_tensor_convert(x, &rx, m->input_type == DT_I32 ? KLC_I32 : KLC_F32) != 0) {
        fprintf(stderr, "klc: %s: %s\n", o->selftest_x, klc_last_error());
        rc = 1;
    } else if (klc_tensor_convert(y, &ry, KLC_F32) != 0) {
        fprintf(stderr, "klc: %s: %s\n", o->selftest_y, klc_last_error());
        rc = 1;
    }
    *rows = rx.shape[0] < SELFTEST_ROWS ? rx.shape[0] : SELFTEST_ROWS;
    klc_tensor_free(&rx);
    klc_tensor_free(&ry);
    if (rc) {
        klc_tensor_free(x);
        klc_tensor_free(y);
    }
    return rc;
}

int infer_load_weights(const PlannedModel *pm, const char *path, float **params, float **state)
{
    const WeightLayout *wl = &pm->wl;
    *params = calloc((size_t)(wl->n_params ? wl->n_params : 1), sizeof(float));
    *state = calloc((size_t)(wl->n_state ? wl->n_state : 1), sizeof(float));
    int rc = !*params || !*state ? 2 : 0;
    if (rc)
        fprintf(stderr, "klc: out of memory\n");
    else
        rc = load_weights(pm->m, wl, path, *params, *state);
    if (rc) {
        free(*params);
        free(*state);
        *params = *state = NULL;
    }
    return rc;
}

/* The 32-bit indices' bound: every subscript and pointer offset of the
 * forward pass lies within one of its buffers (the workspaces, x, y, the
 * weights), so with each buffer at most 2^30 elements an int32_t holds it
 * with a factor of 2 to spare for a subscript's intermediate terms.  Returns
 * the largest n (at most INT32_MAX) for which every buffer of n rows fits,
 * or 0 if not even one row does. */
static int64_t index32_max_rows(const Plan *p, const WeightLayout *wl, int64_t in_size, int64_t out_size)
{
    const int64_t limit = INT64_C(1) << 30;
    const int64_t fixed[][2] = {{p->work_c, p->work_k}, {p->iwork_c, p->iwork_k}, {0, in_size}, {0, out_size},
                                {wl->n_params, 0}, {wl->n_state, 0}};
    int64_t rows = INT32_MAX;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        int64_t c = fixed[i][0], k = fixed[i][1];
        if (c + k > limit)
            return 0;
        if (k > 0 && (limit - c) / k < rows)
            rows = (limit - c) / k;
    }
    return rows;
}

int emit_inference(Arena *a, const PlannedModel *pm, const InferOptions *o)
{
    const Model *m = pm->m;
    const WeightLayout wl = pm->wl;
    IrFunc *f = m->predict;
    /* plain loops need no column buffers: plan without them */
    const Plan *p = o->no_blas ? plan_function(a, m->predict, &wl, false) : pm->predict;
    const char *P = m->var, *U = upper(a, m->var);

    float *params = NULL, *state = NULL;
    if (o->weights) {
        params = calloc((size_t)(wl.n_params ? wl.n_params : 1), sizeof(float));
        state = calloc((size_t)(wl.n_state ? wl.n_state : 1), sizeof(float));
        if (!params || !state) {
            free(params);
            free(state);
            fprintf(stderr, "klc: out of memory\n");
            return 2;
        }
        int rc = load_weights(m, &wl, o->weights, params, state);
        if (rc) {
            free(params);
            free(state);
            return rc;
        }
    }
    klc_tensor st_x = {0}, st_y = {0};
    int64_t st_rows = 0;
    if (o->selftest_x && load_selftest(a, m, o, &st_x, &st_y, &st_rows) != 0) {
        free(params);
        free(state);
        return 1;
    }

    CBuf c, h;
    cb_init(&c);
    cb_init(&h);
    bool in_int = m->input_type == DT_I32;
    const char *xt = in_int ? "int32_t" : "float";
    int64_t in_size = 1, out_size = 1;
    for (int j = 1; j < m->input_shape.rank; j++)
        in_size *= m->input_shape.d[j].c;
    for (int j = 1; j < m->output_shape.rank; j++)
        out_size *= m->output_shape.d[j].c;
    /* the type of loop variables and subscripts (--index-type) */
    const char *ix = o->index32 ? "int32_t" : "int64_t";
    int64_t max_rows = o->index32 ? index32_max_rows(p, &wl, in_size, out_size) : 0;
    if (o->index32 && max_rows < o->batch_capacity) {
        fprintf(stderr, "klc: %s: --index-type int32: model '%s' needs buffers of more than 2^30 elements for %ld "
                "row%s (int32 subscripts could overflow); use --index-type int64\n", o->source, P, o->batch_capacity,
                o->batch_capacity == 1 ? "" : "s");
        free(params);
        free(state);
        klc_tensor_free(&st_x);
        klc_tensor_free(&st_y);
        cb_free(&c);
        cb_free(&h);
        return 1;
    }

    /* ---- header ---- */
    const char *guard = arena_printf(a, "KLC_INFER_%s_H", U);
    cb_printf(&h, "/*\n * Generated by klc %s from %s — do not edit.\n *\n", KLC_VERSION, o->source);
    cb_printf(&h, " * Inference for model '%s': the forward pass alone (training = false), with no klc\n"
                  " * runtime and no malloc.  Rows are C-order; input [n", P);
    for (int j = 1; j < m->input_shape.rank; j++)
        cb_printf(&h, ", %lld", (long long)m->input_shape.d[j].c);
    cb_printf(&h, "] (%s), output [n", xt);
    for (int j = 1; j < m->output_shape.rank; j++)
        cb_printf(&h, ", %lld", (long long)m->output_shape.d[j].c);
    cb_printf(&h, "] (float).\n */\n");
    cb_printf(&h, "#ifndef %s\n#define %s\n\n#include <stdint.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", guard,
              guard);
    cb_printf(&h, "/* Elements of one input row and one output row. */\n");
    cb_printf(&h, "#define %s_INPUT_SIZE %lld\n#define %s_OUTPUT_SIZE %lld\n\n", U, (long long)in_size, U,
              (long long)out_size);
    cb_printf(&h, "/* Workspace for n rows, in floats and in int32s. */\n");
    cb_printf(&h, "#define %s_WORK_FLOATS(n) (%lldLL + %lldLL * (int64_t)(n))\n", U, (long long)p->work_c,
              (long long)p->work_k);
    cb_printf(&h, "#define %s_WORK_INTS(n) (%lldLL + %lldLL * (int64_t)(n))\n\n", U, (long long)p->iwork_c,
              (long long)p->iwork_k);
    if (o->index32)
        cb_printf(&h, "/* The most rows predict_ex takes: its loops and subscripts are int32_t\n"
                      " * (klc --index-type int32), and every buffer then has at most 2^30 elements. */\n"
                      "#define %s_MAX_ROWS %lldLL\n\n", U, (long long)max_rows);
    if (!o->weights) {
        cb_printf(&h, "/* The weights, passed by the caller: trainable ones in `params`, state (e.g. moving\n"
                      " * statistics) in `state`, each at its offset (float32, C order). */\n");
        cb_printf(&h, "#define %s_N_PARAMS %lld\n#define %s_N_STATE %lld\n\n", U, (long long)wl.n_params, U,
                  (long long)wl.n_state);
        cb_printf(&h, "typedef struct %s_weight {\n    const char *name; /* \"dense.kernel\" */\n"
                      "    int state;        /* 1: in `state`, 0: in `params` */\n    int64_t offset, size;\n} %s_weight;\n\n",
                  P, P);
        cb_printf(&h, "extern const %s_weight %s_weights[%d];\n\n", P, P, m->weights.len ? m->weights.len : 1);
    }
    const char *wargs = o->weights ? "" : "const float *params, const float *state, ";
    cb_printf(&h, "/* Forward pass of n rows (1 <= n <= %s_BATCH_CAPACITY) with the file's static\n"
                  " * workspace (not reentrant).  Returns 0, or -1 if n is out of range or a buffer\n"
                  " * it needs is NULL. */\n", U);
    cb_printf(&h, "int %s_predict(%sconst %s *x, int64_t n, float *y);\n\n", P, wargs, xt);
    cb_printf(&h, "/* The same with the caller's workspace: work holds %s_WORK_FLOATS(n) floats,\n"
                  " * iwork %s_WORK_INTS(n) int32s; reentrant. */\n", U, U);
    cb_printf(&h, "int %s_predict_ex(%sconst %s *x, int64_t n, float *y, float *work, int32_t *iwork);\n\n", P, wargs,
              xt);
    if (o->index32)
        cb_printf(&h, "/* predict_ex returns -1 as well if n > %s_MAX_ROWS. */\n\n", U);
    if (o->selftest_x) {
        cb_printf(&h, "/* Self-test: runs the forward pass on the %lld rows of %s embedded in the file\n"
                      " * and compares each output with the trainer's (%s): returns how many\n"
                      " * differ by more than 1e-5 + 1e-4 * |expected| (0: this build computes what the\n"
                      " * trainer computed), or -1 if the forward pass fails. */\n",
                  (long long)st_rows, o->selftest_x, o->selftest_y);
        cb_printf(&h, "#define %s_SELFTEST_ROWS %lld\nint %s_selftest(void);\n\n", U, (long long)st_rows, P);
    }
    cb_printf(&h, "#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", guard);

    /* ---- source ---- */
    cb_printf(&c, "/*\n * Generated by klc %s from %s — do not edit.\n *\n", KLC_VERSION, o->source);
    cb_printf(&c, " * Inference for model '%s' (%s).  Define KLC_NO_BLAS to compute matrix products with\n"
                  " * plain loops (then only libm is needed); define %s_BATCH_CAPACITY to size the\n"
                  " * static workspace.  -O2 -fno-math-errno -fno-trapping-math let the loops vectorize.\n */\n",
              P, o->weights ? "weights embedded" : "weights passed by the caller", U);
    cb_printf(&c, "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    if (o->no_blas)
        cb_printf(&c, "#ifndef KLC_NO_BLAS\n#define KLC_NO_BLAS 1 /* generated with --no-blas */\n#endif\n");
    else
        cb_printf(&c, "#ifndef KLC_NO_BLAS\n#include <cblas.h>\n#endif\n");
    cb_printf(&c, "\n#include \"%s\"\n\n", cb_base_name(o->h_path));
    cb_printf(&c, "#ifndef %s_BATCH_CAPACITY\n#define %s_BATCH_CAPACITY %ld\n#endif\n\n", U, U, o->batch_capacity);
    if (o->index32)
        cb_printf(&c, "#if %s_BATCH_CAPACITY > %s_MAX_ROWS\n#error \"%s_BATCH_CAPACITY: more rows than the int32 indices "
                      "allow (%s_MAX_ROWS)\"\n#endif\n\n", U, U, U, U);
    /* the rest goes to `code` first: the helpers it uses are written before it */
    CBuf code;
    cb_init(&code);

    if (o->weights) {
        cb_printf(&code, "/* Weights from %s. */\n", o->weights);
        /* an empty array would be unused: the forward pass then reads nothing of it */
        if (wl.n_params > 0)
            emit_array(&code, a, arena_printf(a, "%s_params", P), params, wl.n_params);
        if (wl.n_state > 0)
            emit_array(&code, a, arena_printf(a, "%s_state", P), state, wl.n_state);
    } else {
        cb_printf(&code, "const %s_weight %s_weights[%d] = {\n", P, P, m->weights.len ? m->weights.len : 1);
        for (int i = 0; i < m->weights.len; i++) {
            const Weight *w = m->weights.items[i];
            cb_printf(&code, "    {\"%s\", %d, %lld, %lld}, /* %s */\n", w->key, w->trainable ? 0 : 1,
                      (long long)wl.offset[i], (long long)w->size, shape_str(a, &w->shape));
        }
        if (m->weights.len == 0)
            cb_printf(&code, "    {\"\", 0, 0, 0}\n");
        cb_printf(&code, "};\n\n");
    }

    /* the forward pass, taking the arguments it uses */
    code.indent = 4;
    Codegen cg;
    cg_init(&cg, a, &code, m, &wl, f, p, false);
    cg.blas = !o->no_blas;
    cg.blas_optional = !o->no_blas;
    cg.index = ix;
    cg.x = "x_in";
    cg.y = "NULL";
    cg.params = "params";
    cg.state = "state";
    cg.grads = "NULL";
    cg.seed = "(uint64_t)0";
    cg.y_pred = "y_out";
    const char *body = cg_function(&cg);
    code.indent = 0;
    /* the parameters of the forward pass, and what predict_ex and predict pass */
    const char *pw = !o->weights ? "params" : wl.n_params > 0 ? arena_printf(a, "%s_params", P) : "NULL";
    const char *sw = !o->weights ? "state" : wl.n_state > 0 ? arena_printf(a, "%s_state", P) : "NULL";
    const struct {
        const char *name, *decl, *arg_ex, *arg;
    } fp[] = {
        {"params", "const float *params", pw, pw},
        {"state", "const float *state", sw, sw},
        {"x_in", arena_printf(a, "const %s *x_in", xt), "x", "x"},
        {"n", arena_printf(a, "%s n", ix), o->index32 ? "(int32_t)n" : "n", o->index32 ? "(int32_t)n" : "n"},
        {"cap", arena_printf(a, "%s cap", ix), o->index32 ? "(int32_t)n" : "n", arena_printf(a, "%s_BATCH_CAPACITY", U)},
        {"y_out", "float *y_out", "y", "y"},
        {"work", "float *work", "work", arena_printf(a, "%s_work", P)},
        {"iwork", "int32_t *iwork", "iwork", arena_printf(a, "%s_iwork", P)},
    };
    int nfp = (int)(sizeof fp / sizeof fp[0]);
    bool used[sizeof fp / sizeof fp[0]];
    const char *decls = "", *args_ex = "", *args = "";
    for (int i = 0, k = 0; i < nfp; i++) {
        used[i] = cg_uses(body, fp[i].name);
        if (!used[i])
            continue;
        decls = arena_printf(a, "%s%s%s", decls, k ? ", " : "", fp[i].decl);
        args_ex = arena_printf(a, "%s%s%s", args_ex, k ? ", " : "", fp[i].arg_ex);
        args = arena_printf(a, "%s%s%s", args, k ? ", " : "", fp[i].arg);
        k++;
    }
    cb_printf(&code, "static void %s_forward(%s)\n{\n%s}\n\n", P, *decls ? decls : "void", body);

    cb_printf(&code, "int %s_predict_ex(%sconst %s *x, int64_t n, float *y, float *work, int32_t *iwork)\n{\n", P,
              wargs, xt);
    /* the caller's weights (when not embedded) are checked too, which also
     * uses them when the forward pass does not */
    const char *wcheck =
        o->weights ? "" : arena_printf(a, " || (%s_N_PARAMS > 0 && !params) || (%s_N_STATE > 0 && !state)", U, U);
    const char *ncheck = o->index32 ? arena_printf(a, " || n > %s_MAX_ROWS", U) : "";
    cb_printf(&code, "    if (n < 1%s || !x || !y || (%s_WORK_FLOATS(n) > 0 && !work) ||\n"
                     "        (%s_WORK_INTS(n) > 0 && !iwork)%s)\n        return -1;\n", ncheck, U, U, wcheck);
    cb_printf(&code, "    %s_forward(%s);\n    return 0;\n}\n\n", P, args_ex);
    if (used[6])
        cb_printf(&code, "static float %s_work[%s_WORK_FLOATS(%s_BATCH_CAPACITY) + 1];\n", P, U, U);
    if (used[7])
        cb_printf(&code, "static int32_t %s_iwork[%s_WORK_INTS(%s_BATCH_CAPACITY) + 1];\n", P, U, U);
    cb_printf(&code, "%sint %s_predict(%sconst %s *x, int64_t n, float *y)\n{\n", used[6] || used[7] ? "\n" : "", P,
              wargs, xt);
    cb_printf(&code, "    if (n < 1 || n > %s_BATCH_CAPACITY || !x || !y%s)\n        return -1;\n", U, wcheck);
    cb_printf(&code, "    %s_forward(%s);\n    return 0;\n}\n", P, args);

    if (o->selftest_x) {
        cb_printf(&code, "\n/* Self-test: the first rows of %s and the outputs the trainer's predict gave for\n"
                         " * them (%s). */\n", o->selftest_x, o->selftest_y);
        const char *sx = arena_printf(a, "%s_selftest_x", P), *sy = arena_printf(a, "%s_selftest_y", P);
        if (in_int)
            emit_int_array(&code, sx, st_x.data, st_rows * in_size);
        else
            emit_array(&code, a, sx, st_x.data, st_rows * in_size);
        emit_array(&code, a, sy, st_y.data, st_rows * out_size);
        cb_printf(&code, "int %s_selftest(void)\n{\n    int bad = 0;\n", P);
        cb_printf(&code, "    for (%s i = 0; i < %s_SELFTEST_ROWS; i++) {\n        float y[%s_OUTPUT_SIZE];\n", ix, U, U);
        cb_printf(&code, "        if (%s_predict(%s + i * %s_INPUT_SIZE, 1, y) != 0)\n            return -1;\n", P, sx, U);
        cb_printf(&code, "        for (%s k = 0; k < %s_OUTPUT_SIZE; k++) {\n", ix, U);
        cb_printf(&code, "            float e = %s[i * %s_OUTPUT_SIZE + k];\n", sy, U);
        cb_printf(&code, "            /* written so that a NaN counts as a difference */\n"
                         "            if (!(fabsf(y[k] - e) <= 1e-5f + 1e-4f * fabsf(e)))\n"
                         "                bad++;\n        }\n    }\n    return bad;\n}\n");
    }
    klc_tensor_free(&st_x);
    klc_tensor_free(&st_y);

    cg_helpers(&c, code.len ? code.data : "");
    cb_printf(&c, "\n%s", code.len ? code.data : "");
    cb_free(&code);

    free(params);
    free(state);
    if (o->c_out && o->h_out) {
        *o->c_out = c;
        *o->h_out = h;
        return 0;
    }
    int rc = cb_write_pair(&h, o->h_path, &c, o->c_path) != 0 ? 2 : 0;
    cb_free(&c);
    cb_free(&h);
    return rc;
}
