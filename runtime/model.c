/*
 * model.c — klc_model: slabs, initialisation, weight access and summary.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fileio.h"
#include "init.h"
#include "summary.h"

void *klc_zalloc(int64_t count, size_t size)
{
    return calloc(count > 0 ? (size_t)count : 1, size);
}

float *klc_weight_data(klc_model *m, const klc_tensor_def *t)
{
    return (t->kind == KLC_TENSOR_PARAM ? m->params : m->state) + t->offset;
}

static int64_t product(int rank, const int64_t *shape)
{
    int64_t p = 1;
    for (int i = 0; i < rank; i++)
        p *= shape[i];
    return p;
}

int64_t klc_def_input_count(const klc_model_def *def)
{
    return product(def->input_rank, def->input_shape);
}

int64_t klc_def_output_count(const klc_model_def *def)
{
    return product(def->output_rank, def->output_shape);
}

int64_t klc_def_classes(const klc_model_def *def)
{
    return def->output_rank > 0 ? def->output_shape[def->output_rank - 1] : 1;
}

int64_t klc_def_label_count(const klc_model_def *def)
{
    switch (def->labels) {
    case KLC_LABELS_SPARSE: {
        int64_t c = klc_def_classes(def);
        return c > 0 ? klc_def_output_count(def) / c : 0;
    }
    case KLC_LABELS_DENSE: return klc_def_output_count(def);
    default: return 0;
    }
}

void klc_format_shape(char *buf, size_t size, int rank, const int64_t *shape, int batch_none)
{
    if (!batch_none) {
        klc_shape_str(buf, size, rank, shape);
        return;
    }
    char dims[8 + KLC_MAX_RANK * 24]; /* "[784, 10]": at most 22 characters a dimension */
    klc_shape_str(dims, sizeof dims, rank, shape);
    snprintf(buf, size, "[None%s%s", rank > 0 ? ", " : "]", rank > 0 ? dims + 1 : "");
}

/* The def's tables must describe slabs that hold them: a compiler bug
 * caught here gives a message instead of memory corruption. */
static int check_def(const klc_model_def *def)
{
    const char *name = def->name ? def->name : "?";
    if (def->input_rank < 0 || def->input_rank >= KLC_MAX_RANK || def->output_rank < 0 ||
        def->output_rank >= KLC_MAX_RANK)
        return klc_seterr("model '%s': input rank %d or output rank %d out of range", name,
                          def->input_rank, def->output_rank);
    if (def->input_dtype != KLC_F32 && def->input_dtype != KLC_I32)
        return klc_seterr("model '%s': input dtype must be float32 or int32", name);
    if (def->n_params < 0 || def->n_state < 0 || def->n_slots < 0 || def->work_c < 0 ||
        def->work_k < 0 || def->iwork_c < 0 || def->iwork_k < 0 || def->n_tensors < 0 ||
        def->n_metrics < 0 || def->n_added_metrics < 0 || def->n_layers < 0)
        return klc_seterr("model '%s': negative size in the model description", name);
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        int64_t limit = t->kind == KLC_TENSOR_PARAM ? def->n_params : def->n_state;
        if (t->rank < 0 || t->rank > KLC_MAX_RANK || product(t->rank, t->shape) != t->size ||
            t->offset < 0 || t->size < 0 || t->offset + t->size > limit)
            return klc_seterr("model '%s': weight '%s' does not fit its slab", name, t->name);
    }
    for (int i = 0; i < def->optimizer.n_slots; i++) {
        const klc_slot_def *s = &def->optimizer.slots[i];
        if (s->param < 0 || s->param >= def->n_tensors ||
            def->tensors[s->param].kind != KLC_TENSOR_PARAM || s->offset < 0 ||
            s->offset + def->tensors[s->param].size > def->n_slots)
            return klc_seterr("model '%s': optimizer slot '%s' does not fit its slab", name, s->name);
    }
    return 0;
}

klc_model *klc_model_new(const klc_model_def *def, uint64_t seed)
{
    if (!def) {
        klc_seterr("klc_model_new: no model description");
        return NULL;
    }
    if (def->abi_version != KLC_ABI_VERSION) {
        klc_seterr("model '%s' was compiled for klc runtime ABI version %d, but this runtime "
                   "implements version %d: recompile it with this klc",
                   def->name ? def->name : "?", def->abi_version, KLC_ABI_VERSION);
        return NULL;
    }
    if (check_def(def))
        return NULL;
    klc_model *m = calloc(1, sizeof *m);
    if (!m) {
        klc_seterr("model '%s': out of memory", def->name);
        return NULL;
    }
    m->def = def;
    m->seed = seed;
    m->learning_rate = (float)def->optimizer.learning_rate;
    m->params = klc_zalloc(def->n_params, sizeof(float));
    m->grads = klc_zalloc(def->n_params, sizeof(float));
    m->state = klc_zalloc(def->n_state, sizeof(float));
    m->slots = klc_zalloc(def->n_slots, sizeof(float));
    m->added = klc_zalloc(def->n_added_metrics, sizeof(double));
    if (!m->params || !m->grads || !m->state || !m->slots || !m->added) {
        klc_model_free(m);
        klc_seterr("model '%s': out of memory for %lld weights", def->name,
                   (long long)(def->n_params + def->n_state));
        return NULL;
    }
    int64_t cap = def->fit.batch_size > 0 ? def->fit.batch_size : 32;
    if (klc_model_reserve(m, cap)) {
        klc_model_free(m);
        return NULL;
    }
    for (int i = 0; i < def->n_tensors; i++) {
        const klc_tensor_def *t = &def->tensors[i];
        if (klc_init_weight(klc_weight_data(m, t), t, seed, i)) {
            klc_seterr_prefix(def->name);
            klc_model_free(m);
            return NULL;
        }
    }
    return m;
}

int klc_model_reserve(klc_model *m, int64_t cap)
{
    const klc_model_def *def = m->def;
    if (cap <= m->cap)
        return 0;
    if (cap > ((int64_t)1 << 31))
        return klc_seterr("batch size %lld is too large", (long long)cap);
    size_t xsize = def->input_dtype == KLC_I32 ? sizeof(int32_t) : sizeof(float);
    size_t ysize = def->labels == KLC_LABELS_SPARSE ? sizeof(int32_t) : sizeof(float);
    float *work = klc_zalloc(def->work_c + def->work_k * cap, sizeof(float));
    int32_t *iwork = klc_zalloc(def->iwork_c + def->iwork_k * cap, sizeof(int32_t));
    void *xb = klc_zalloc(klc_def_input_count(def) * cap, xsize);
    void *yb = klc_zalloc(klc_def_label_count(def) * cap, ysize);
    float *ypred = klc_zalloc(klc_def_output_count(def) * cap, sizeof(float));
    if (!work || !iwork || !xb || !yb || !ypred) {
        free(work);
        free(iwork);
        free(xb);
        free(yb);
        free(ypred);
        return klc_seterr("model '%s': out of memory for a batch of %lld", def->name,
                          (long long)cap);
    }
    free(m->work);
    free(m->iwork);
    free(m->xb);
    free(m->yb);
    free(m->ypred);
    m->work = work;
    m->iwork = iwork;
    m->xb = xb;
    m->yb = yb;
    m->ypred = ypred;
    m->cap = cap;
    return 0;
}

void klc_model_free(klc_model *m)
{
    if (!m)
        return;
    free(m->params);
    free(m->grads);
    free(m->state);
    free(m->slots);
    free(m->added);
    free(m->work);
    free(m->iwork);
    free(m->xb);
    free(m->yb);
    free(m->ypred);
    free(m);
}

const klc_model_def *klc_model_def_of(const klc_model *m)
{
    return m ? m->def : NULL;
}

float *klc_model_weight(klc_model *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (int i = 0; i < m->def->n_tensors; i++) {
        const klc_tensor_def *t = &m->def->tensors[i];
        if (strcmp(t->name, name) == 0)
            return klc_weight_data(m, t);
    }
    return NULL;
}

/*
 * Keras' summary: one row per layer; totals from the weights.  The optimizer
 * line appears once fit has built the optimizer: its variables are the
 * iteration counter (int64, 8 bytes), the learning rate (float32) and the
 * slots (float32).
 */
void klc_model_summary(const klc_model *m, FILE *out, int width)
{
    const klc_model_def *def = m->def;
    klc_summary_row *rows = calloc(def->n_layers > 0 ? (size_t)def->n_layers : 1, sizeof *rows);
    if (!rows)
        return;
    for (int i = 0; i < def->n_layers; i++) {
        rows[i].name = def->layers[i].name;
        rows[i].type = def->layers[i].type;
        rows[i].output_shape = def->layers[i].output_shape;
        rows[i].params = def->layers[i].params;
    }
    klc_summary_totals totals = { 0, 0, -1, 0 };
    for (int i = 0; i < def->n_tensors; i++) {
        if (def->tensors[i].kind == KLC_TENSOR_PARAM)
            totals.trainable += def->tensors[i].size;
        else
            totals.non_trainable += def->tensors[i].size;
    }
    if (m->optimizer_built) {
        totals.optimizer = 2 + def->n_slots;
        totals.optimizer_bytes = 4 * def->n_slots + 4 + 8;
    }
    const char *name = def->keras_name ? def->keras_name : def->name;
    klc_summary_print(out, name, rows, def->n_layers, &totals, width);
    free(rows);
}
