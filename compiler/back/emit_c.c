/*
 * emit_c.c — the training C file: descriptors, step functions, optimizer.
 *
 * For each planned model (plan.h): the four step functions of klc/abi.h,
 * followed by the model's klc_model_def.  The optimizer update follows Keras' formulas and order
 * (keras-semantics.md §3): clipping, decoupled weight decay, update_step.
 */
#include "back/emit_c.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/cbuf.h"
#include "base/source.h"
#include "back/codegen.h"
#include "back/plan.h"

#ifndef KLC_VERSION
#define KLC_VERSION "0.1.0"
#endif

typedef struct Gen {
    Arena *a;
    CBuf *b;
    const EmitOptions *o;
} Gen;

/* A step function's code (cg_function) after the locals of the step it uses. */
static void emit_step_code(Codegen *cg)
{
    const char *code = cg_function(cg);
    if (cg_uses(code, "n"))
        cb_line(cg->b, "const int64_t n = s->n;");
    if (cg_uses(code, "cap"))
        cb_line(cg->b, "const int64_t cap = s->cap;");
    if (cg_uses(code, "work"))
        cb_line(cg->b, "%s *const work = s->work;", cg->real);
    if (cg_uses(code, "iwork"))
        cb_line(cg->b, "int32_t *const iwork = s->iwork;");
    cb_printf(cg->b, "%s", code);
}

static Codegen codegen_for(Gen *g, const Model *m, const WeightLayout *wl, IrFunc *f, const Plan *p, bool f64)
{
    Codegen cg;
    cg_init(&cg, g->a, g->b, m, wl, f, p, f64);
    cg.x = "s->x";
    cg.y = "s->y";
    cg.params = "s->params";
    cg.state = "s->state";
    cg.grads = "s->grads";
    cg.seed = "s->seed";
    return cg;
}

/* ---- optimizer ---- */

static const char *R(Gen *g, double x)
{
    return cg_real(g->a, x, false);
}

typedef struct SlotInfo {
    const char *names[3];
    int n;
} SlotInfo;

static SlotInfo slots_of(const OptimizerCfg *o)
{
    SlotInfo s = {{NULL}, 0};
    switch (o->kind) {
    case OPT_SGD:
        if (o->momentum > 0)
            s.names[s.n++] = "momentum";
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        s.names[s.n++] = "momentum";
        s.names[s.n++] = "velocity";
        if (o->amsgrad)
            s.names[s.n++] = "velocity_hat";
        break;
    case OPT_RMSPROP:
        s.names[s.n++] = "velocity";
        if (o->momentum > 0)
            s.names[s.n++] = "momentum";
        if (o->centered)
            s.names[s.n++] = "average_gradient";
        break;
    }
    return s;
}

/* Slot layout: the slots of trainable weight i follow each other from
 * slot_base[i], each padded to 16 floats. */
static int64_t *slot_layout(Arena *a, const Model *m, int n_slots, int64_t *total)
{
    int64_t *base = arena_alloc(a, sizeof(int64_t) * (size_t)(m->weights.len + 1));
    int64_t off = 0;
    for (int i = 0; i < m->weights.len; i++) {
        const Weight *w = m->weights.items[i];
        base[i] = off;
        if (w->trainable)
            off += (int64_t)n_slots * pad16(w->size);
    }
    *total = off;
    return base;
}

/* Offset of slot k of weight i in s->slots. */
static int64_t slot_offset(const Model *m, const int64_t *slot_base, int i, int k)
{
    const Weight *w = m->weights.items[i];
    return slot_base[i] + k * pad16(w->size);
}

/* Does the optimizer update any weight (trainable, with a gradient)? */
static bool updates_any(const Model *m)
{
    for (int i = 0; i < m->weights.len; i++) {
        const Weight *w = m->weights.items[i];
        if (w->trainable && !w->no_grad)
            return true;
    }
    return false;
}

static bool is_adam(const OptimizerCfg *o)
{
    return o->kind == OPT_ADAM || o->kind == OPT_ADAMW;
}

/* Does the update of one weight read the learning rate?  (Adam's reads the
 * bias-corrected step alpha instead, unless it decays weights.) */
static bool update_uses_lr(const OptimizerCfg *o)
{
    return !is_adam(o) || o->weight_decay > 0;
}

/* The update of one weight tensor, as a helper with restrict pointers (so it
 * vectorizes), called once per trainable weight from train_step.  Each
 * statement carries its formula from Keras (keras-semantics.md §3). */
static void emit_update_helper(Gen *g, const Model *m)
{
    const OptimizerCfg *o = &m->opt;
    CBuf *b = g->b;
    SlotInfo si = slots_of(o);
    if (!updates_any(m))
        return;
    cb_printf(b, "/* %s: Keras' update of one weight (clipping, weight decay, update step). */\n", o->name);
    cb_printf(b, "KLC_CLONES static void %s_update(float *restrict w, float *restrict g", m->var);
    for (int k = 0; k < si.n; k++)
        cb_printf(b, ", float *restrict %s", si.names[k]);
    cb_printf(b, ", int64_t size%s%s)\n{\n", update_uses_lr(o) ? ", float lr" : "", is_adam(o) ? ", float alpha" : "");
    b->indent = 4;
    if (o->clipnorm > 0) {
        cb_line(b, "/* clipnorm: g = g * c / max(|g|, c) */");
        cb_line(b, "double sq = 0;");
        cb_line(b, "for (int64_t i = 0; i < size; i++) sq += (double)g[i] * g[i];");
        cb_line(b, "const float norm = sq > 0 ? (float)sqrt(sq) : 0.0f;");
        cb_line(b, "const float den = klc_maxf(norm, %s);", R(g, o->clipnorm));
        cb_line(b, "for (int64_t i = 0; i < size; i++) g[i] = g[i] * %s / den;", R(g, o->clipnorm));
    }
    cb_line(b, "for (int64_t i = 0; i < size; i++) {");
    b->indent += 4;
    if (o->clipvalue > 0)
        cb_line(b, "g[i] = klc_minf(klc_maxf(g[i], %s), %s); /* clipvalue v: g <- clamp(g, -v, v) */",
                R(g, -o->clipvalue), R(g, o->clipvalue));
    if (o->weight_decay > 0)
        cb_line(b, "w[i] = w[i] - w[i] * %s * lr; /* weight decay wd: w <- w - w * wd * lr */", R(g, o->weight_decay));
    switch (o->kind) {
    case OPT_SGD:
        if (o->momentum > 0) {
            cb_line(b, "momentum[i] = -g[i] * lr + momentum[i] * %s; /* m <- mu * m - lr * g */", R(g, o->momentum));
            if (o->nesterov)
                cb_line(b, "w[i] += -g[i] * lr + momentum[i] * %s; /* nesterov: w <- w + mu * m - lr * g */",
                        R(g, o->momentum));
            else
                cb_line(b, "w[i] += momentum[i]; /* w <- w + m */");
        } else {
            cb_line(b, "w[i] -= g[i] * lr; /* w <- w - lr * g */");
        }
        break;
    case OPT_ADAM:
    case OPT_ADAMW:
        cb_line(b, "momentum[i] += (g[i] - momentum[i]) * %s; /* m <- m + (g - m) * (1 - beta_1) */",
                R(g, 1 - o->beta_1));
        cb_line(b, "velocity[i] += (g[i] * g[i] - velocity[i]) * %s; /* v <- v + (g^2 - v) * (1 - beta_2) */",
                R(g, 1 - o->beta_2));
        if (o->amsgrad) {
            cb_line(b, "velocity_hat[i] = klc_maxf(velocity_hat[i], velocity[i]); "
                       "/* amsgrad: v_hat <- max(v_hat, v) */");
            cb_line(b, "w[i] -= (momentum[i] * alpha) / (sqrtf(velocity_hat[i]) + %s); "
                       "/* w <- w - alpha * m / (sqrt(v_hat) + epsilon) */", R(g, o->epsilon));
        } else {
            cb_line(b, "w[i] -= (momentum[i] * alpha) / (sqrtf(velocity[i]) + %s); "
                       "/* w <- w - alpha * m / (sqrt(v) + epsilon) */", R(g, o->epsilon));
        }
        break;
    case OPT_RMSPROP:
        cb_line(b, "velocity[i] = %s * velocity[i] + %s * (g[i] * g[i]); /* v <- rho * v + (1 - rho) * g^2 */",
                R(g, o->rho), R(g, 1 - o->rho));
        if (o->centered) {
            cb_line(b, "average_gradient[i] = %s * average_gradient[i] + %s * g[i]; /* a <- rho * a + (1 - rho) * g */",
                    R(g, o->rho), R(g, 1 - o->rho));
            cb_line(b, "const float den = velocity[i] - average_gradient[i] * average_gradient[i] + %s; "
                       "/* v - a^2 + epsilon */", R(g, o->epsilon));
        } else {
            cb_line(b, "const float den = velocity[i] + %s; /* v + epsilon */", R(g, o->epsilon));
        }
        cb_line(b, "const float increment = lr * g[i] / sqrtf(den); /* delta = lr * g / sqrt(den) */");
        if (o->momentum > 0) {
            cb_line(b, "momentum[i] = %s * momentum[i] + increment; /* mom <- mu * mom + delta */", R(g, o->momentum));
            cb_line(b, "w[i] -= momentum[i]; /* w <- w - mom */");
        } else {
            cb_line(b, "w[i] -= increment; /* w <- w - delta */");
        }
        break;
    }
    b->indent -= 4;
    cb_line(b, "}");
    b->indent = 0;
    cb_printf(b, "}\n\n");
}

static void emit_optimizer(Gen *g, const Model *m, const WeightLayout *wl, const int64_t *slot_base)
{
    const OptimizerCfg *o = &m->opt;
    CBuf *b = g->b;
    SlotInfo si = slots_of(o);
    cb_printf(b, "\n");
    cb_line(b, "/* ---- optimizer: %s ---- */", o->name);
    cb_line(b, "{");
    b->indent += 4;
    if (updates_any(m))
        cb_line(b, "const float lr = s->learning_rate;");
    if (o->global_clipnorm > 0) {
        cb_line(b, "/* global_clipnorm: every gradient scaled by c * min(1 / N, 1 / c), N the global norm */");
        cb_line(b, "double sq = 0;");
        for (int i = 0; i < m->weights.len; i++) {
            const Weight *w = m->weights.items[i];
            if (!w->trainable)
                continue;
            cb_line(b, "for (int64_t i = 0; i < %lld; i++) sq += (double)s->grads[%lld + i] * s->grads[%lld + i];",
                    (long long)w->size, (long long)wl->offset[i], (long long)wl->offset[i]);
        }
        cb_line(b, "const float norm = (float)sqrt(sq);");
        cb_line(b, "const float scale = isfinite(norm) ? %s * klc_minf(1.0f / norm, %s) : NAN;", R(g, o->global_clipnorm),
                R(g, 1.0 / o->global_clipnorm));
        for (int i = 0; i < m->weights.len; i++) {
            const Weight *w = m->weights.items[i];
            if (w->trainable)
                cb_line(b, "for (int64_t i = 0; i < %lld; i++) s->grads[%lld + i] *= scale;", (long long)w->size,
                        (long long)wl->offset[i]);
        }
    }
    bool adam = is_adam(o) && updates_any(m);
    const char *lr_arg = update_uses_lr(o) ? ", lr" : "";
    if (!updates_any(m))
        cb_line(b, "/* no weight to update */");
    if (adam) {
        cb_line(b, "/* Adam's bias-corrected step: alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) */");
        cb_line(b, "const float t = (float)(s->iteration + 1);");
        cb_line(b, "const float alpha = lr * sqrtf(1.0f - powf(%s, t)) / (1.0f - powf(%s, t));", R(g, o->beta_2),
                R(g, o->beta_1));
    }
    for (int i = 0; i < m->weights.len; i++) {
        const Weight *w = m->weights.items[i];
        if (!w->trainable)
            continue;
        if (w->no_grad) { /* Keras: variables without a gradient are neither decayed nor updated */
            cb_line(b, "/* %s gets no gradient: not updated */", w->key);
            continue;
        }
        char slots[512] = "";
        size_t len = 0;
        for (int k = 0; k < si.n; k++)
            len += (size_t)snprintf(slots + len, sizeof slots - len, ", s->slots + %lld",
                                    (long long)slot_offset(m, slot_base, i, k));
        cb_line(b, "%s_update(s->params + %lld, s->grads + %lld%s, %lld%s%s); /* %s %s */", m->var,
                (long long)wl->offset[i], (long long)wl->offset[i], slots, (long long)w->size, lr_arg,
                adam ? ", alpha" : "", w->key, shape_str(g->a, &w->shape));
    }
    b->indent -= 4;
    cb_line(b, "}");
}

/* ---- the step functions of one model ---- */

static const char *init_kind_name(int k)
{
    static const char *const names[] = {
#define KLC_INIT_KIND(name) "KLC_INIT_" #name,
#include <klc/kinds.def>
    };
    return names[k];
}

static const char *c_string(Arena *a, const char *s)
{
    size_t n = strlen(s);
    char *r = arena_alloc(a, n * 4 + 3);
    size_t o = 0;
    r[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            r[o++] = '\\';
            r[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)sprintf(r + o, "\\%03o", c);
        } else {
            r[o++] = (char)c;
        }
    }
    r[o++] = '"';
    r[o] = '\0';
    return r;
}

/* The smallest table indexed directly by the model's input (x[...] as a gather
 * subscript), so the runtime can refuse out-of-range ids; 0 if none. */
typedef struct IdLimit {
    const IrValue *v; /* the map whose body is visited */
    int64_t limit;
} IdLimit;

static void id_limit_read(const Scalar *s, int depth, bool in_index, void *ctx)
{
    (void)depth, (void)in_index;
    IdLimit *l = ctx;
    if (s->op != S_READ)
        return;
    const IrValue *t = l->v->args[s->arg];
    for (int j = 0; j < s->rank; j++) {
        const Sub *sub = &s->sub[j];
        if (!sub->ind)
            continue;
        bool plain = sub->off == 0;
        for (int k = 0; k < KLC_MAXVARS; k++)
            plain = plain && sub->coef[k] == 0;
        const Scalar *r = sub->ind;
        if (plain && r->op == S_READ && l->v->args[r->arg]->op == IR_INPUT && dim_is_const(t->shape.d[j]) &&
            (l->limit == 0 || t->shape.d[j].c < l->limit))
            l->limit = t->shape.d[j].c;
    }
}

static int64_t input_id_limit(const Model *m)
{
    IdLimit l = {NULL, 0};
    const IrFunc *fs[2] = {m->train, m->predict};
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < fs[f]->insts.len; i++) {
            l.v = fs[f]->insts.items[i];
            if (l.v->op == IR_MAP)
                scalar_visit(l.v->comp->body, id_limit_read, &l);
        }
    return l.limit;
}

static void max_work(const Plan *p, int64_t *c, int64_t *k, int64_t *ic, int64_t *ik)
{
    if (p->work_c > *c)
        *c = p->work_c;
    if (p->work_k > *k)
        *k = p->work_k;
    if (p->iwork_c > *ic)
        *ic = p->iwork_c;
    if (p->iwork_k > *ik)
        *ik = p->iwork_k;
}

static void emit_model(Gen *g, const PlannedModel *pm)
{
    Arena *a = g->a;
    CBuf *b = g->b;
    const Model *m = pm->m;
    const char *P = m->var;
    const WeightLayout wl = pm->wl;
    IrFunc *test = m->infer;
    IrFunc *predict = m->predict;
    const Plan *ptrain = pm->train, *ptest = pm->test, *ppred = pm->predict;

    SlotInfo si = slots_of(&m->opt);
    int64_t n_slots;
    int64_t *slot_base = slot_layout(a, m, si.n, &n_slots);

    cb_printf(b, "\n/* ======== model '%s' (%s) ======== */\n\n", P, m->keras_name);

    emit_update_helper(g, m);

    /* train_step */
    cb_printf(b, "/* One training step: forward (training = true), loss, backward, %s update, assign(). */\n",
              m->opt.name);
    cb_printf(b, "KLC_CLONES static void %s_train_step(klc_step *s)\n{\n", P);
    b->indent = 4;
    Codegen cg = codegen_for(g, m, &wl, m->train, ptrain, false);
    cg.y_pred = "s->y_pred";
    cg.loss = "s->loss";
    cg.metrics = "s->added_metrics";
    cg.grads_out = true;
    cg.stop_before_grads = NULL;
    emit_step_code(&cg);
    if (g->o->data_parallel) {
        cb_printf(b, "\n");
        cb_line(b, "/* data-parallel training: the runtime sums the gradient slab over the ranks */");
        cb_line(b, "if (s->grads_ready)");
        cb_line(b, "    s->grads_ready(s);");
    }
    emit_optimizer(g, m, &wl, slot_base);
    bool any_assign = false;
    for (int i = 0; i < m->train->insts.len; i++) {
        IrValue *v = m->train->insts.items[i];
        if (v->op != IR_ASSIGN)
            continue;
        if (!any_assign) {
            cb_printf(b, "\n");
            cb_line(b, "/* ---- assign(): new state, committed after the step ---- */");
        }
        any_assign = true;
        const Weight *w = m->weights.items[v->index];
        cb_line(b, "memcpy(s->state + %lld, %s, sizeof(float) * %lld); /* %s */", (long long)wl.offset[v->index],
                cg.names[plan_root(ptrain, v->args[0])->id], (long long)w->size, w->key);
    }
    b->indent = 0;
    cb_printf(b, "}\n\n");

    /* test_step */
    cb_printf(b, "/* Loss and metrics on one batch: forward (training = false). */\n");
    cb_printf(b, "KLC_CLONES static void %s_test_step(klc_step *s)\n{\n", P);
    b->indent = 4;
    cg = codegen_for(g, m, &wl, test, ptest, false);
    cg.y_pred = "s->y_pred";
    cg.loss = "s->loss";
    cg.metrics = "s->added_metrics";
    emit_step_code(&cg);
    b->indent = 0;
    cb_printf(b, "}\n\n");

    /* predict_step */
    cb_printf(b, "/* The forward pass (training = false) into y_pred. */\n");
    cb_printf(b, "KLC_CLONES static void %s_predict_step(klc_step *s)\n{\n", P);
    b->indent = 4;
    cg = codegen_for(g, m, &wl, predict, ppred, false);
    cg.y_pred = "s->y_pred";
    emit_step_code(&cg);
    b->indent = 0;
    cb_printf(b, "}\n\n");

    /* grad_f64 */
    cb_printf(b, "/* Loss and its gradient in double, for gradient checking (no update, state not committed). */\n");
    cb_printf(b, "static void %s_grad_f64(klc_step_f64 *s)\n{\n", P);
    b->indent = 4;
    cg = codegen_for(g, m, &wl, m->train, ptrain, true);
    cg.loss = "s->loss";
    cg.grads_out = true;
    cg.stop_before_grads = "if (!s->compute_grads) return;";
    emit_step_code(&cg);
    b->indent = 0;
    cb_printf(b, "}\n\n");

    /* descriptors */
    cb_printf(b, "static const klc_tensor_def %s_tensors[] = {\n", P);
    for (int i = 0; i < m->weights.len; i++) {
        const Weight *w = m->weights.items[i];
        cb_printf(b, "    {.name = %s, .layer = %s, .weight = %s, .kind = %s,\n", c_string(a, w->key),
                  c_string(a, w->layer), c_string(a, w->name), w->trainable ? "KLC_TENSOR_PARAM" : "KLC_TENSOR_STATE");
        cb_printf(b, "     .rank = %d, .shape = {", w->shape.rank);
        for (int j = 0; j < w->shape.rank; j++)
            cb_printf(b, "%s%lld", j ? ", " : "", (long long)w->shape.d[j].c);
        if (w->shape.rank == 0)
            cb_printf(b, "0");
        cb_printf(b, "}, .size = %lld, .offset = %lld,\n", (long long)w->size, (long long)wl.offset[i]);
        cb_printf(b, "     .init = %s, .init_args = {%.17g, %.17g, %.17g}, .fan_in = %lld, .fan_out = %lld,\n",
                  init_kind_name(w->init.kind), w->init.args[0], w->init.args[1], w->init.args[2],
                  (long long)w->fan_in, (long long)w->fan_out);
        cb_printf(b, "     .keras_path = %s},\n", w->keras_path ? c_string(a, w->keras_path) : "NULL");
    }
    if (m->weights.len == 0)
        cb_printf(b, "    {0}\n");
    cb_printf(b, "};\n\n");

    int n_slot_defs = 0;
    cb_printf(b, "static const klc_slot_def %s_slots[] = {\n", P);
    for (int i = 0; i < m->weights.len; i++) {
        const Weight *w = m->weights.items[i];
        if (!w->trainable)
            continue;
        for (int k = 0; k < si.n; k++) {
            cb_printf(b, "    {.name = %s, .param = %d, .offset = %lld},\n",
                      c_string(a, arena_printf(a, "optimizer.%s.%s", w->key, si.names[k])), i,
                      (long long)slot_offset(m, slot_base, i, k));
            n_slot_defs++;
        }
    }
    if (!n_slot_defs)
        cb_printf(b, "    {0}\n");
    cb_printf(b, "};\n\n");

    cb_printf(b, "static const klc_layer_def %s_layers[] = {\n", P);
    for (int i = 0; i < m->layers.len; i++) {
        const LayerInst *li = m->layers.items[i];
        cb_printf(b, "    {.name = %s, .type = %s, .output_shape = %s, .params = %lld, .trainable_params = %lld},\n",
                  c_string(a, li->name), c_string(a, li->type), c_string(a, shape_keras(a, &li->out_shape)),
                  (long long)li->params, (long long)li->trainable_params);
    }
    if (m->layers.len == 0)
        cb_printf(b, "    {0}\n");
    cb_printf(b, "};\n\n");

    static const char *const metric_kinds[] = {
#define KLC_METRIC_KIND(name) "KLC_METRIC_" #name,
#include <klc/kinds.def>
    };
    cb_printf(b, "static const klc_metric_def %s_metrics[] = {\n", P);
    for (int i = 0; i < m->metrics.len; i++) {
        const MetricCfg *mc = m->metrics.items[i];
        cb_printf(b, "    {.name = %s, .kind = %s},\n", c_string(a, mc->name), metric_kinds[mc->kind]);
    }
    if (m->metrics.len == 0)
        cb_printf(b, "    {0}\n");
    cb_printf(b, "};\n\n");

    cb_printf(b, "static const char *const %s_added_metrics[] = {", P);
    for (int i = 0; i < m->added_metrics.len; i++)
        cb_printf(b, "%s%s", i ? ", " : "", c_string(a, m->added_metrics.items[i]));
    if (m->added_metrics.len == 0)
        cb_printf(b, "NULL");
    cb_printf(b, "};\n\n");

    const LrScheduleCfg *sc = &m->opt.schedule;
    if (sc->kind == LR_PIECEWISE_CONSTANT_DECAY) {
        cb_printf(b, "/* PiecewiseConstantDecay: values[i] for boundaries[i-1] < step <= boundaries[i]. */\n");
        cb_printf(b, "static const int64_t %s_lr_boundaries[] = {", P);
        for (int i = 0; i < sc->n_boundaries; i++)
            cb_printf(b, "%s%lld", i ? ", " : "", (long long)sc->boundaries[i]);
        cb_printf(b, "};\nstatic const double %s_lr_values[] = {", P);
        for (int i = 0; i <= sc->n_boundaries; i++)
            cb_printf(b, "%s%s", i ? ", " : "", cg_real(a, sc->values[i], true));
        cb_printf(b, "};\n\n");
    }
    const FitCfg *fc = &m->fit;
    if (fc->lr_fn_expr) {
        int line = 0, col = 0;
        if (fc->lr_fn_loc.file)
            source_line_col(fc->lr_fn_loc.file, fc->lr_fn_loc.start, &line, &col);
        cb_printf(b, "/* LearningRateScheduler(%s): def %s at %s:%d, in double as Python computes it. */\n",
                  fc->lr_fn_name, fc->lr_fn_name, fc->lr_fn_loc.file ? fc->lr_fn_loc.file->path : "?", line);
        cb_printf(b, "static double %s_lr_schedule(int64_t epoch, double lr)\n{\n    (void)epoch;\n    (void)lr;\n",
                  P);
        cb_printf(b, "    return %s;\n}\n\n", fc->lr_fn_expr);
    }

    int64_t wc = 0, wk = 0, ic = 0, ik = 0;
    max_work(ptrain, &wc, &wk, &ic, &ik);
    max_work(ptest, &wc, &wk, &ic, &ik);
    max_work(ppred, &wc, &wk, &ic, &ik);

    static const char *const loss_kinds[] = {
#define KLC_LOSS_KIND(name) "KLC_LOSS_" #name,
#include <klc/kinds.def>
    };
    static const char *const opt_kinds[] = {
#define KLC_OPT_KIND(name) "KLC_OPT_" #name,
#include <klc/kinds.def>
    };
    const char *labels = m->loss.kind == LOSS_NONE ? "KLC_LABELS_NONE"
                       : m->loss.kind == LOSS_SPARSE_CATEGORICAL_CROSSENTROPY ? "KLC_LABELS_SPARSE" : "KLC_LABELS_DENSE";
    cb_printf(b, "const klc_model_def %s_def = {\n", P);
    cb_printf(b, "    .abi_version = KLC_ABI_VERSION,\n");
    cb_printf(b, "    .name = %s,\n", c_string(a, P));
    cb_printf(b, "    .keras_name = %s,\n", c_string(a, m->keras_name));
    cb_printf(b, "    .source = %s,\n", c_string(a, g->o->source));
    cb_printf(b, "    .input_dtype = %s,\n", m->input_type == DT_I32 ? "KLC_I32" : "KLC_F32");
    cb_printf(b, "    .input_rank = %d,\n    .input_shape = {", m->input_shape.rank - 1);
    for (int j = 1; j < m->input_shape.rank; j++)
        cb_printf(b, "%s%lld", j > 1 ? ", " : "", (long long)m->input_shape.d[j].c);
    cb_printf(b, "%s},\n", m->input_shape.rank > 1 ? "" : "0");
    if (m->input_type == DT_I32)
        cb_printf(b, "    .input_id_limit = %lld,\n", (long long)input_id_limit(m));
    cb_printf(b, "    .output_rank = %d,\n    .output_shape = {", m->output_shape.rank - 1);
    for (int j = 1; j < m->output_shape.rank; j++)
        cb_printf(b, "%s%lld", j > 1 ? ", " : "", (long long)m->output_shape.d[j].c);
    cb_printf(b, "%s},\n", m->output_shape.rank > 1 ? "" : "0");
    cb_printf(b, "    .loss = %s,\n", loss_kinds[m->loss.kind]);
    cb_printf(b, "    .loss_name = %s,\n", c_string(a, m->loss.name ? m->loss.name : ""));
    cb_printf(b, "    .labels = %s,\n", labels);
    cb_printf(b, "    .n_metrics = %d,\n    .metrics = %s_metrics,\n", m->metrics.len, P);
    cb_printf(b, "    .n_added_metrics = %d,\n    .added_metric_names = %s_added_metrics,\n", m->added_metrics.len, P);
    cb_printf(b, "    .n_tensors = %d,\n    .tensors = %s_tensors,\n", m->weights.len, P);
    cb_printf(b, "    .n_params = %lld,\n    .n_state = %lld,\n    .n_slots = %lld,\n", (long long)wl.n_params,
              (long long)wl.n_state, (long long)n_slots);
    cb_printf(b, "    .n_layers = %d,\n    .layers = %s_layers,\n", m->layers.len, P);
    cb_printf(b, "    .optimizer = {.kind = %s, .name = %s, .learning_rate = %s, .n_slots = %d, .slots = %s_slots",
              opt_kinds[m->opt.kind], c_string(a, m->opt.name), cg_real(a, m->opt.learning_rate, true), n_slot_defs, P);
    if (sc->kind != LR_CONSTANT) {
        static const char *const lr_kinds[] = {"KLC_LR_CONSTANT", "KLC_LR_EXPONENTIAL_DECAY",
                                               "KLC_LR_PIECEWISE_CONSTANT_DECAY", "KLC_LR_POLYNOMIAL_DECAY",
                                               "KLC_LR_INVERSE_TIME_DECAY", "KLC_LR_COSINE_DECAY"};
        cb_printf(b, ",\n                  .schedule = {.kind = %s, .name = %s, .initial_learning_rate = %s,\n",
                  lr_kinds[sc->kind], c_string(a, sc->name), cg_real(a, sc->initial, true));
        cb_printf(b, "                               .decay_steps = %s, .decay_rate = %s, .staircase = %d,\n",
                  cg_real(a, sc->decay_steps, true), cg_real(a, sc->decay_rate, true), sc->staircase ? 1 : 0);
        cb_printf(b, "                               .end_learning_rate = %s, .power = %s, .cycle = %d, .alpha = %s,\n",
                  cg_real(a, sc->end_lr, true), cg_real(a, sc->power, true), sc->cycle ? 1 : 0,
                  cg_real(a, sc->alpha, true));
        cb_printf(b, "                               .has_warmup = %d, .warmup_target = %s, .warmup_steps = %s",
                  sc->has_warmup ? 1 : 0, cg_real(a, sc->warmup_target, true), cg_real(a, sc->warmup_steps, true));
        if (sc->kind == LR_PIECEWISE_CONSTANT_DECAY)
            cb_printf(b, ",\n                               .n_boundaries = %d, .boundaries = %s_lr_boundaries, "
                         ".values = %s_lr_values", sc->n_boundaries, P, P);
        cb_printf(b, "}");
    }
    cb_printf(b, "},\n");
    cb_printf(b, "    .fit = {.epochs = %d, .batch_size = %d, .validation_split = %s, .shuffle = %d, .verbose = %d,\n",
              fc->epochs, fc->batch_size, cg_real(a, fc->validation_split, true), fc->shuffle ? 1 : 0, fc->verbose);
    cb_printf(b, "            .early_stopping = %d, .es_monitor = %s, .es_min_delta = %s, .es_patience = %d,\n",
              fc->early_stopping ? 1 : 0, fc->early_stopping ? c_string(a, fc->es_monitor) : "NULL",
              cg_real(a, fc->es_min_delta, true), fc->es_patience);
    cb_printf(b, "            .es_restore_best_weights = %d, .checkpoint_path = %s, .checkpoint_monitor = %s,\n",
              fc->es_restore_best ? 1 : 0, fc->checkpoint_path ? c_string(a, fc->checkpoint_path) : "NULL",
              fc->checkpoint_path ? c_string(a, fc->checkpoint_monitor) : "NULL");
    cb_printf(b, "            .checkpoint_best_only = %d, .terminate_on_nan = %d", fc->checkpoint_best_only ? 1 : 0,
              fc->terminate_on_nan ? 1 : 0);
    if (fc->es_verbose || fc->checkpoint_verbose)
        cb_printf(b, ", .es_verbose = %d, .checkpoint_verbose = %d", fc->es_verbose, fc->checkpoint_verbose);
    if (fc->reduce_lr) {
        cb_printf(b, ",\n            .reduce_lr = 1, .rl_monitor = %s, .rl_factor = %s, .rl_min_delta = %s, .rl_min_lr = %s,\n",
                  c_string(a, fc->rl_monitor), cg_real(a, fc->rl_factor, true), cg_real(a, fc->rl_min_delta, true),
                  cg_real(a, fc->rl_min_lr, true));
        cb_printf(b, "            .rl_patience = %d, .rl_cooldown = %d, .rl_mode = %d, .rl_verbose = %d", fc->rl_patience,
                  fc->rl_cooldown, fc->rl_mode, fc->rl_verbose);
    }
    if (fc->csv_path)
        cb_printf(b, ",\n            .csv_path = %s, .csv_separator = %s, .csv_append = %d", c_string(a, fc->csv_path),
                  c_string(a, fc->csv_separator), fc->csv_append ? 1 : 0);
    if (fc->lr_fn_expr)
        cb_printf(b, ",\n            .lr_scheduler = %s_lr_schedule, .lr_scheduler_verbose = %d", P, fc->lr_fn_verbose);
    cb_printf(b, "},\n");
    cb_printf(b, "    .work_c = %lld,\n    .work_k = %lld,\n", (long long)wc, (long long)wk);
    cb_printf(b, "    .iwork_c = %lld,\n    .iwork_k = %lld,\n", (long long)ic, (long long)ik);
    cb_printf(b, "    .train_step = %s_train_step,\n", P);
    cb_printf(b, "    .test_step = %s_test_step,\n", P);
    cb_printf(b, "    .predict_step = %s_predict_step,\n", P);
    cb_printf(b, "    .grad_f64 = %s_grad_f64,\n", P);
    if (g->o->data_parallel)
        cb_printf(b, "    .data_parallel = 1,\n");
    cb_printf(b, "};\n");
}

/* The file's base name as a C identifier: "ops.h" -> "ops". */
static const char *registry_name(Arena *a, const char *h_path)
{
    const char *b = cb_base_name(h_path);
    const char *dot = strrchr(b, '.');
    char *r = arena_strndup(a, b, dot ? (size_t)(dot - b) : strlen(b));
    for (char *p = r; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            *p = '_';
    if (r[0] >= '0' && r[0] <= '9')
        r = arena_printf(a, "m_%s", r);
    return r;
}

static const char *guard_of(Arena *a, const char *h_path)
{
    char *g = arena_printf(a, "KLC_GENERATED_%s", cb_base_name(h_path));
    for (char *p = g; *p; p++) {
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
        else if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '_';
    }
    return g;
}

int emit_training(Arena *a, PlannedModel *const *models, int n_models, const EmitOptions *o)
{
    CBuf c, h, code;
    cb_init(&c);
    cb_init(&h);
    cb_init(&code);
    Gen g = {a, &code, o};
    for (int i = 0; i < n_models; i++)
        emit_model(&g, models[i]);

    cb_printf(&c, "/*\n * Generated by klc %s from %s — do not edit; edit the .kl file and run klc again.\n",
              KLC_VERSION, o->source);
    cb_printf(&c, " *\n * Training code for the klc runtime (klc/runtime.h).  Every buffer is planned at\n"
                  " * compile time: the step functions address the runtime's slabs and allocate nothing.\n"
                  " * Shapes are written [N, ...] where N is the batch (n rows in this step).\n"
                  " * Compile with -O2 -fno-math-errno -fno-trapping-math (klc_add_model does; pkg-config --cflags\n"
                  " * klc gives the last two, the optimisation level is yours):\n"
                  " * without them C's errno and trapping semantics keep the loops from vectorizing.\n */\n");
    cb_printf(&c, "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n\n#include <cblas.h>\n\n");
    cb_printf(&c, "#include \"%s\"\n", cb_base_name(o->h_path));
    if (o->with_main)
        cb_printf(&c, "#include <klc/runtime.h>\n");
    cb_printf(&c, "\n/* On x86-64 Linux each float step also exists as AVX-512 and AVX2 copies, one picked\n"
                  " * when the program loads.  Vector width changes no result here: sums stay in order and\n"
                  " * no multiply-add is fused (the AVX-512 copy could use FMA, so contraction is turned\n"
                  " * off), so runs are bit-identical on every machine.  Define KLC_NO_CLONES to opt out.\n"
                  " * (GCC 12 vectorizes the copies at -O2 only when asked with optimize(\"tree-vectorize\").) */\n"
                  "#if defined(__clang__)\n#pragma STDC FP_CONTRACT OFF\n#endif\n"
                  "#if defined(__x86_64__) && defined(__linux__) && !defined(KLC_NO_CLONES) && !defined(__SANITIZE_ADDRESS__)\n"
                  "#if defined(__clang__) && __clang_major__ >= 14\n"
                  "#define KLC_CLONES __attribute__((target_clones(\"avx512f\", \"avx2\", \"default\")))\n"
                  "#elif defined(__GNUC__) && !defined(__clang__)\n"
                  "#define KLC_CLONES __attribute__((target_clones(\"avx512f\", \"avx2\", \"default\"), \\\n"
                  "                                 optimize(\"tree-vectorize\", \"fp-contract=off\")))\n"
                  "#endif\n#endif\n#ifndef KLC_CLONES\n#define KLC_CLONES\n#endif\n\n");
    cg_helpers(&c, code.len ? code.data : "");
    cb_printf(&c, "%s", code.len ? code.data : "");
    cb_free(&code);
    if (o->with_main) {
        cb_printf(&c, "\n/* The trainer program: fit, evaluate, predict, summary, gradcheck. */\n");
        cb_printf(&c, "int main(int argc, char **argv)\n{\n    return klc_main(&%s_def, argc, argv);\n}\n",
                  models[0]->m->var);
    }

    /* every model of the file, for programs that handle several */
    const char *reg = registry_name(a, o->h_path);
    cb_printf(&c, "\n/* All models of this file. */\nconst klc_model_def *const %s_models[] = {", reg);
    for (int i = 0; i < n_models; i++)
        cb_printf(&c, "%s&%s_def", i ? ", " : "", models[i]->m->var);
    cb_printf(&c, "};\nconst int %s_n_models = %d;\n", reg, n_models);

    const char *guard = guard_of(a, o->h_path);
    cb_printf(&h, "/* Generated by klc %s from %s — do not edit. */\n", KLC_VERSION, o->source);
    cb_printf(&h, "#ifndef %s\n#define %s\n\n#include <klc/abi.h>\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
              guard, guard);
    for (int i = 0; i < n_models; i++) {
        const Model *m = models[i]->m;
        cb_printf(&h, "/* Model '%s' (Keras name \"%s\"): input [N", m->var, m->keras_name);
        for (int j = 1; j < m->input_shape.rank; j++)
            cb_printf(&h, ", %lld", (long long)m->input_shape.d[j].c);
        cb_printf(&h, "], output [N");
        for (int j = 1; j < m->output_shape.rank; j++)
            cb_printf(&h, ", %lld", (long long)m->output_shape.d[j].c);
        cb_printf(&h, "]. */\nextern const klc_model_def %s_def;\n\n", m->var);
    }
    cb_printf(&h, "/* All models of this file: %s_models[0 .. %s_n_models - 1]. */\n", reg, reg);
    cb_printf(&h, "extern const klc_model_def *const %s_models[];\nextern const int %s_n_models;\n\n", reg, reg);
    cb_printf(&h, "#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", guard);

    if (o->c_out && o->h_out) {
        *o->c_out = c;
        *o->h_out = h;
        return 0;
    }
    int rc = cb_write_pair(&h, o->h_path, &c, o->c_path);
    cb_free(&c);
    cb_free(&h);
    return rc;
}
