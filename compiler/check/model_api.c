/*
 * model_api.c — models: Sequential([...]) and the methods of a model
 * (compile, fit, add, summary), which record the model's layers and settings.
 */
#include "check/model_api.h"

#include <string.h>

#include "check/keras.h"
#include "check/layer.h"
#include "check/lr_fn.h"

static void fit_defaults(FitCfg *f)
{
    memset(f, 0, sizeof *f);
    f->epochs = 1;
    f->batch_size = 32;
    f->verbose = 1;
    f->shuffle = true;
}

/* The model's input, [N] + the shape of one sample. */
static void set_input_shape(Model *m, const Shape *sample, DType type)
{
    m->has_input = true;
    m->input_shape.rank = sample->rank + 1;
    m->input_shape.d[0] = dim_batch();
    for (int j = 0; j < sample->rank; j++)
        m->input_shape.d[j + 1] = sample->d[j];
    m->input_type = type;
}

/* The input value "x" of both functions, which are the identity until layers are added. */
static void make_input(Model *m)
{
    m->train->input = ir_new(m->train, IR_INPUT, &m->input_shape, m->input_type, m->loc);
    m->infer->input = ir_new(m->infer, IR_INPUT, &m->input_shape, m->input_type, m->loc);
    m->train->input->name = m->infer->input->name = "x";
    m->train->output = m->train->input;
    m->infer->output = m->infer->input;
    m->output_shape = m->input_shape;
    m->output_type = m->input_type;
}

static Value *sequential(Elab *e, Args *args, const Node *call)
{
    Sema *s = e->sema;
    Arena *a = e->arena;
    static const char *const names[] = {"layers", "name", "trainable"};
    Value *v[3];
    const Node *nd[3];
    if (!bind_args(e, args, "Sequential()", 3, names, v, nd))
        return v_err(a);
    if (v[0] && v[0]->kind != V_LIST && v[0]->kind != V_ERR) {
        /* Sequential(Input(...), Dense(...)): one message, not one per misplaced argument */
        diag_error(e->diag, nd[0]->loc, "Sequential takes a list of layers: Sequential([...])");
        return v_err(a);
    }
    if (e->fn || e->in_build) {
        diag_error(e->diag, call->loc, "models are declared at the top level of a file");
        return v_err(a);
    }
    if (!e->model_var) {
        diag_error(e->diag, call->loc, "give the model a name: model = Sequential([...]);");
        return v_err(a);
    }
    Model *m = arena_alloc(a, sizeof *m);
    m->var = e->model_var;
    m->loc = call->loc;
    fit_defaults(&m->fit);
    optimizer_defaults(&m->opt, OPT_RMSPROP);
    m->train = ir_func_new(a, "train", true);
    m->infer = ir_func_new(a, "infer", false);
    if (v[1] && v[1]->kind == V_STR && v[1]->s[0]) {
        m->keras_name = v[1]->s;
    } else if (v[1] && v[1]->kind != V_NONE) {
        diag_error(e->diag, nd[1]->loc, "a model's name must be a string");
        m->keras_name = "sequential";
    } else { /* as Keras' auto_name: only unnamed models take a number */
        m->keras_name = s->n_models ? arena_printf(a, "sequential_%d", s->n_models) : "sequential";
        s->n_models++;
    }
    for (int i = 0; i < s->program->models.len; i++) {
        Model *o = s->program->models.items[i];
        if (!strcmp(o->var, m->var))
            diag_error(e->diag, call->loc, "a model named '%s' already exists; give each model its own name", m->var);
    }
    vec_push(a, &s->program->models, m);
    if (v[2] && v[2]->kind != V_BOOL) {
        diag_error(e->diag, nd[2]->loc, "trainable must be a bool");
    }
    Value *mv = v_new(a, V_MODEL, call->loc);
    mv->model = m;
    if (!v[0]) {
        diag_error(e->diag, call->loc, "Sequential needs a list of layers: Sequential([Input(shape = [...]), ...])");
        m->broken = true;
        return mv;
    }
    if (v[0]->kind == V_ERR) { /* anything else but a list was refused above */
        m->broken = true;
        return mv;
    }
    const Node *list_node = nd[0]->kind == N_KWARG ? nd[0]->a : nd[0];
    for (int i = 0; i < v[0]->n; i++) {
        Value *item = v[0]->items[i];
        const Node *in = list_node->kind == N_LIST && i < list_node->list.len ? list_node->list.items[i] : call;
        if (item->kind == V_ERR) {
            m->broken = true;
            continue;
        }
        if (item->kind == V_INPUT) {
            if (i != 0) {
                diag_error(e->diag, in->loc, "Input(...) must be the first element of a Sequential model");
                m->broken = true;
                continue;
            }
            set_input_shape(m, &item->shape, item->dtype);
            continue;
        }
        if (item->kind == V_CLASS) {
            diag_error(e->diag, in->loc, "%s is a layer class; add an instance: %s(...)", item->def->name,
                       item->def->name);
            m->broken = true;
            continue;
        }
        if (item->kind == V_FN && !item->def) {
            diag_error(e->diag, in->loc, "'%s' is a function, not a layer%s", item->s,
                       item->native->activation ? arena_printf(a, "; did you mean Activation(%s)?", item->s)
                                                       : "");
            m->broken = true;
            continue;
        }
        if (item->kind != V_LAYER) {
            diag_error(e->diag, in->loc, "Sequential takes layers, not %s", v_describe(a, item));
            m->broken = true;
            continue;
        }
        if (!m->has_input && i == 0 && item->layer->has_input_shape)
            set_input_shape(m, &item->layer->input_shape, DT_F32);
        if (!m->has_input) {
            /* an Input later in the list is the mistake; after a broken Input, this is its echo */
            int later = -1;
            for (int j = i + 1; j < v[0]->n && later < 0; j++)
                if (v[0]->items[j]->kind == V_INPUT)
                    later = j;
            if (later >= 0 && list_node->kind == N_LIST && later < list_node->list.len)
                diag_error(e->diag, list_node->list.items[later]->loc,
                           "Input(...) must be the first element of a Sequential model");
            else if (!m->broken)
                diag_error(e->diag, in->loc,
                           "model '%s' has no Input: the shape reaching %s is unknown; start the list with "
                           "Input(shape = [...])",
                           m->var, item->layer->cls->name);
            m->broken = true;
            break;
        }
        if (m->broken)
            continue; /* a previous layer failed: the shape reaching this one is unknown */
        if (!m->train->input)
            make_input(m);
        layer_instantiate(s, m, item, i + 1);
    }
    if (!m->broken && !m->has_input) {
        diag_error(e->diag, call->loc, "model '%s' has no Input(shape = [...])", m->var);
        m->broken = true;
    }
    if (!m->broken && !m->train->input) /* Input alone */
        make_input(m);
    return mv;
}

static Value *method_compile(Elab *e, Model *m, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"optimizer", "loss", "metrics", "loss_weights", "weighted_metrics",
                                        "run_eagerly", "steps_per_execution", "jit_compile"};
    Value *v[8];
    const Node *nd[8];
    if (!bind_args(e, args, "compile()", 8, names, v, nd))
        return v_err(a);
    for (int i = 3; i < 8; i++)
        if (v[i] && v[i]->kind != V_NONE && !(i >= 5 && v[i]->kind == V_BOOL)) {
            diag_error(e->diag, nd[i]->loc, "compile(%s = ...) is not supported by klc", names[i]);
            return v_err(a);
        }
    bool ok = true;
    OptimizerCfg opt;
    optimizer_defaults(&opt, OPT_RMSPROP); /* Keras' default optimizer */
    if (v[0] && v[0]->kind != V_ERR && !resolve_optimizer(e, v[0], nd[0], &opt))
        ok = false;
    LossCfg loss = {0};
    if (v[1] && v[1]->kind != V_ERR && !resolve_loss(e, v[1], nd[1], &loss))
        ok = false;
    if (!v[1])
        loss.loc = call->loc;
    if (v[2] && v[2]->kind != V_ERR && !resolve_metrics(e, v[2], nd[2], m))
        ok = false;
    for (int i = 0; i < 3; i++)
        if (v[i] && v[i]->kind == V_ERR)
            ok = false;
    m->compiled = true; /* even when broken: fit() after a failed compile() is no news */
    if (!ok) {
        m->broken = true;
        return v_err(a);
    }
    m->opt = opt;
    m->loss = loss;
    return v_new(a, V_NONE, call->loc);
}

/* A callback's verbose: an int (Keras prints when it is > 0). */
static bool want_verbose(Elab *e, Value *v, const Node *at, int *out)
{
    int64_t x;
    if (v->kind == V_BOOL) {
        *out = v->b;
        return true;
    }
    if (!want_int(e, v, at, "verbose", &x))
        return false;
    *out = x > 0;
    return true;
}

/* The learning-rate callbacks set the optimizer's learning rate, which Keras
 * refuses when it is a schedule. */
static bool lr_callbacks_allowed(Elab *e, const Model *m, const Node *at, const char *who)
{
    if (m->opt.schedule.kind == LR_CONSTANT)
        return true;
    diag_error(e->diag, at->loc, "%s cannot change the learning rate: the optimizer's learning rate follows the %s schedule "
               "(Keras refuses to set it too)", who, m->opt.schedule.name);
    return false;
}

static bool reduce_lr_on_plateau(Elab *e, Model *m, Args *ca, const Node *at)
{
    static const char *const k[] = {"monitor", "factor", "patience", "verbose", "mode", "min_delta", "cooldown",
                                    "min_lr"};
    Value *cv[8];
    const Node *cn[8];
    FitCfg *f = &m->fit;
    if (!bind_args(e, ca, "ReduceLROnPlateau", 8, k, cv, cn) || !lr_callbacks_allowed(e, m, at, "ReduceLROnPlateau"))
        return false;
    f->reduce_lr = true;
    f->rl_monitor = "val_loss";
    f->rl_factor = 0.1;
    f->rl_patience = 10;
    f->rl_min_delta = 1e-4;
    if (cv[0]) {
        if (cv[0]->kind != V_STR) {
            diag_error(e->diag, cn[0]->loc, "monitor must be a string like \"val_loss\"");
            return false;
        }
        f->rl_monitor = cv[0]->s;
    }
    if (cv[1]) {
        if (!want_float(e, cv[1], cn[1], "factor", &f->rl_factor))
            return false;
        if (!(f->rl_factor < 1.0) || f->rl_factor < 0) {
            diag_error(e->diag, cn[1]->loc, "ReduceLROnPlateau does not support a factor >= 1.0 (or < 0): "
                       "factor = %g", f->rl_factor);
            return false;
        }
    }
    int64_t x;
    if (cv[2]) {
        if (!want_int(e, cv[2], cn[2], "patience", &x))
            return false;
        if (x < 0 || x > 1 << 24) {
            diag_error(e->diag, cn[2]->loc, "patience must be between 0 and %d", 1 << 24);
            return false;
        }
        f->rl_patience = (int)x;
    }
    if (cv[3] && !want_verbose(e, cv[3], cn[3], &f->rl_verbose))
        return false;
    if (cv[4]) {
        const char *mode = cv[4]->kind == V_STR ? cv[4]->s : "";
        f->rl_mode = !strcmp(mode, "min") ? 1 : !strcmp(mode, "max") ? 2 : 0;
        if (strcmp(mode, "auto") && f->rl_mode == 0) {
            diag_error(e->diag, cn[4]->loc, "mode must be \"auto\", \"min\" or \"max\"");
            return false;
        }
    }
    if (cv[5] && !want_float(e, cv[5], cn[5], "min_delta", &f->rl_min_delta))
        return false;
    if (cv[6]) {
        if (!want_int(e, cv[6], cn[6], "cooldown", &x))
            return false;
        if (x < 0 || x > 1 << 24) {
            diag_error(e->diag, cn[6]->loc, "cooldown must be between 0 and %d", 1 << 24);
            return false;
        }
        f->rl_cooldown = (int)x;
    }
    if (cv[7]) {
        if (!want_float(e, cv[7], cn[7], "min_lr", &f->rl_min_lr))
            return false;
        if (f->rl_min_lr < 0) {
            diag_error(e->diag, cn[7]->loc, "min_lr must not be negative");
            return false;
        }
    }
    return true;
}

static Value *method_fit(Elab *e, Model *m, Args *args, const Node *call)
{
    Arena *a = e->arena;
    static const char *const names[] = {"x", "y", "batch_size", "epochs", "verbose", "callbacks",
                                        "validation_split", "validation_data", "shuffle", "initial_epoch"};
    Value *v[10];
    const Node *nd[10];
    if (!bind_args(e, args, "fit()", 10, names, v, nd))
        return v_err(a);
    for (int i = 0; i < 10; i++)
        if (v[i] && v[i]->kind == V_ERR)
            return v_err(a);
    if (!m->compiled)
        diag_error(e->diag, call->loc, "call compile() before fit() (Keras: \"You must call compile() before using the model.\")");
    for (int i = 0; i < 2; i++)
        if (v[i] && v[i]->kind != V_NONE) {
            diag_error(e->diag, nd[i]->loc, "training data comes at run time: pass it to the trainer (--%s file.npy)",
                       names[i]);
            return v_err(a);
        }
    if (v[7] && v[7]->kind != V_NONE) {
        diag_error(e->diag, nd[7]->loc, "validation data comes at run time: --validation-x and --validation-y");
        return v_err(a);
    }
    if (v[9] && v[9]->kind != V_NONE) {
        diag_error(e->diag, nd[9]->loc, "initial_epoch comes at run time: --initial-epoch");
        return v_err(a);
    }
    FitCfg *f = &m->fit;
    int64_t x;
    if (v[2] && v[2]->kind != V_NONE) {
        if (!want_int(e, v[2], nd[2], "batch_size", &x))
            return v_err(a);
        if (x < 1 || x > 1 << 24) {
            diag_error(e->diag, nd[2]->loc, "batch_size must be between 1 and %d", 1 << 24);
            return v_err(a);
        }
        f->batch_size = (int)x;
    }
    if (v[3]) {
        if (!want_int(e, v[3], nd[3], "epochs", &x))
            return v_err(a);
        if (x < 1 || x > 1 << 24) {
            diag_error(e->diag, nd[3]->loc, "epochs must be at least 1");
            return v_err(a);
        }
        f->epochs = (int)x;
    }
    if (v[4]) {
        if (v[4]->kind == V_STR && !strcmp(v[4]->s, "auto"))
            f->verbose = 1;
        else if (!want_int(e, v[4], nd[4], "verbose", &x))
            return v_err(a);
        else if (x < 0 || x > 2) {
            diag_error(e->diag, nd[4]->loc, "verbose must be 0, 1, 2 or \"auto\"");
            return v_err(a);
        } else
            f->verbose = (int)x;
    }
    if (v[6]) {
        if (!want_float(e, v[6], nd[6], "validation_split", &f->validation_split))
            return v_err(a);
        if (f->validation_split < 0 || f->validation_split >= 1) {
            diag_error(e->diag, nd[6]->loc, "validation_split must be in [0, 1)");
            return v_err(a);
        }
    }
    if (v[8] && !want_bool(e, v[8], nd[8], "shuffle", &f->shuffle))
        return v_err(a);
    if (v[5] && v[5]->kind != V_NONE) {
        if (v[5]->kind != V_LIST) {
            diag_error(e->diag, nd[5]->loc, "callbacks must be a list: callbacks = [EarlyStopping(patience = 2)]");
            return v_err(a);
        }
        for (int i = 0; i < v[5]->n; i++) {
            Value *cb = v[5]->items[i];
            const char *name = cb->kind == V_CONFIG || cb->kind == V_STR ? cb->s : "";
            Args *ca = cb->kind == V_CONFIG ? cb->args : NULL;
            Args none = {0};
            if (!ca)
                ca = &none;
            if (!strcmp(name, "EarlyStopping")) {
                static const char *const k[] = {"monitor", "min_delta", "patience", "verbose", "mode",
                                                "restore_best_weights"};
                Value *cv[6];
                const Node *cn[6];
                if (!bind_args(e, ca, "EarlyStopping", 6, k, cv, cn))
                    return v_err(a);
                f->early_stopping = true;
                f->es_monitor = "val_loss";
                if (cv[0]) {
                    if (cv[0]->kind != V_STR) {
                        diag_error(e->diag, cn[0]->loc, "monitor must be a string like \"val_loss\"");
                        return v_err(a);
                    }
                    f->es_monitor = cv[0]->s;
                }
                if (cv[1] && !want_float(e, cv[1], cn[1], "min_delta", &f->es_min_delta))
                    return v_err(a);
                if (cv[2]) {
                    if (!want_int(e, cv[2], cn[2], "patience", &x))
                        return v_err(a);
                    f->es_patience = (int)x;
                }
                if (cv[4] && !(cv[4]->kind == V_STR && !strcmp(cv[4]->s, "auto"))) {
                    diag_error(e->diag, cn[4]->loc, "klc's EarlyStopping supports mode = \"auto\"");
                    return v_err(a);
                }
                if (cv[5] && !want_bool(e, cv[5], cn[5], "restore_best_weights", &f->es_restore_best))
                    return v_err(a);
                if (cv[3] && !want_verbose(e, cv[3], cn[3], &f->es_verbose))
                    return v_err(a);
            } else if (!strcmp(name, "ModelCheckpoint")) {
                static const char *const k[] = {"filepath", "monitor", "verbose", "save_best_only",
                                                "save_weights_only"};
                Value *cv[5];
                const Node *cn[5];
                if (!bind_args(e, ca, "ModelCheckpoint", 5, k, cv, cn))
                    return v_err(a);
                if (!cv[0] || cv[0]->kind != V_STR) {
                    diag_error(e->diag, nd[5]->loc, "ModelCheckpoint needs a filepath string");
                    return v_err(a);
                }
                f->checkpoint_path = cv[0]->s;
                f->checkpoint_monitor = "val_loss";
                if (cv[1]) {
                    if (cv[1]->kind != V_STR) {
                        diag_error(e->diag, cn[1]->loc, "monitor must be a string like \"val_loss\"");
                        return v_err(a);
                    }
                    f->checkpoint_monitor = cv[1]->s;
                }
                if (cv[3] && !want_bool(e, cv[3], cn[3], "save_best_only", &f->checkpoint_best_only))
                    return v_err(a);
                if (cv[2] && !want_verbose(e, cv[2], cn[2], &f->checkpoint_verbose))
                    return v_err(a);
            } else if (!strcmp(name, "TerminateOnNaN")) {
                f->terminate_on_nan = true;
            } else if (!strcmp(name, "ReduceLROnPlateau")) {
                if (!reduce_lr_on_plateau(e, m, ca, nd[5]))
                    return v_err(a);
            } else if (!strcmp(name, "CSVLogger")) {
                static const char *const k[] = {"filename", "separator", "append"};
                Value *cv[3];
                const Node *cn[3];
                if (!bind_args(e, ca, "CSVLogger", 3, k, cv, cn))
                    return v_err(a);
                if (!cv[0] || cv[0]->kind != V_STR || !*cv[0]->s) {
                    diag_error(e->diag, cv[0] ? cn[0]->loc : nd[5]->loc, "CSVLogger needs a filename string");
                    return v_err(a);
                }
                f->csv_path = cv[0]->s;
                f->csv_separator = ",";
                if (cv[1]) {
                    if (cv[1]->kind != V_STR || strlen(cv[1]->s) != 1 || strchr("\"\r\n", cv[1]->s[0])) {
                        diag_error(e->diag, cn[1]->loc, "separator must be one character, like \";\"");
                        return v_err(a);
                    }
                    f->csv_separator = cv[1]->s;
                }
                if (cv[2] && !want_bool(e, cv[2], cn[2], "append", &f->csv_append))
                    return v_err(a);
            } else if (!strcmp(name, "LearningRateScheduler")) {
                static const char *const k[] = {"schedule", "verbose"};
                Value *cv[2];
                const Node *cn[2];
                if (!bind_args(e, ca, "LearningRateScheduler", 2, k, cv, cn))
                    return v_err(a);
                if (!cv[0]) {
                    diag_error(e->diag, nd[5]->loc, "LearningRateScheduler needs a schedule: a def of the epoch "
                               "and the learning rate");
                    return v_err(a);
                }
                if (!lr_callbacks_allowed(e, m, cn[0], "LearningRateScheduler"))
                    return v_err(a);
                const char *c = lr_fn_translate(e, cv[0], cn[0]);
                if (!c)
                    return v_err(a);
                f->lr_fn_expr = c;
                f->lr_fn_name = cv[0]->def->name;
                f->lr_fn_loc = cv[0]->def->loc;
                if (cv[1] && !want_verbose(e, cv[1], cn[1], &f->lr_fn_verbose))
                    return v_err(a);
            } else {
                diag_error(e->diag, nd[5]->loc, "unknown callback %s (klc has EarlyStopping, ModelCheckpoint, "
                           "TerminateOnNaN, ReduceLROnPlateau, CSVLogger and LearningRateScheduler)",
                           v_describe(a, cb));
                return v_err(a);
            }
        }
    }
    return v_new(a, V_NONE, call->loc);
}

static Value *call_sequential(Elab *e, Value *callee, Args *args, const Node *call)
{
    (void)callee;
    if (args_poisoned(args))
        return v_err(e->arena);
    return sequential(e, args, call);
}

const Native sequential_native = {"Sequential", call_sequential, NULL, NULL, false};

/* ---- methods ---- */

static bool positional_poisoned(const Args *args)
{
    for (int i = 0; i < args->n_pos; i++)
        if (args->pos[i]->kind == V_ERR)
            return true;
    return false;
}

static Value *call_compile(Elab *e, Value *method, Args *args, const Node *call)
{
    if (positional_poisoned(args))
        return v_err(e->arena);
    return method_compile(e, method->model, args, call);
}

/* model.fit(x_train, y_train, ...) as in Keras: the data is given to the trainer at run
 * time.  Said before x_train is looked up (it is no name of the program). */
static bool fit_without_data(Elab *e, const Value *callee, const Node *call)
{
    (void)callee;
    int pos = 0;
    for (int i = 0; i < call->list.len; i++) {
        const Node *arg = call->list.items[i];
        const char *name = arg->kind == N_KWARG ? arg->name : pos == 0 ? "x" : pos == 1 ? "y" : "";
        const Node *val = arg->kind == N_KWARG ? arg->a : arg;
        if (arg->kind != N_KWARG)
            pos++;
        if ((!strcmp(name, "x") || !strcmp(name, "y")) && val->kind != N_NONE) {
            diag_error(e->diag, arg->loc, "training data comes at run time, not in fit(): pass it to the "
                       "trainer (fit --x x.npy --y y.npy)");
            return false;
        }
    }
    return true;
}


static Value *call_fit(Elab *e, Value *method, Args *args, const Node *call)
{
    if (positional_poisoned(args))
        return v_err(e->arena);
    return method_fit(e, method->model, args, call);
}

static Value *call_summary(Elab *e, Value *method, Args *args, const Node *call)
{
    (void)method;
    if (positional_poisoned(args))
        return v_err(e->arena);
    return v_new(e->arena, V_NONE, call->loc);
}

/* add(layer) */
static Value *call_add(Elab *e, Value *method, Args *args, const Node *call)
{
    Model *m = method->model;
    if (positional_poisoned(args))
        return v_err(e->arena);
    if (args->n_pos != 1 || args->n_kw != 0) {
        diag_error(e->diag, call->loc, "add() takes one layer");
        return v_err(e->arena);
    }
    Value *l = args->pos[0];
    if (l->kind != V_LAYER) {
        diag_error(e->diag, args->pos_node[0]->loc, "add() takes a layer, not %s", v_describe(e->arena, l));
        return v_err(e->arena);
    }
    if (m->compiled)
        diag_warning(e->diag, call->loc, "a layer is added after compile()");
    if (!m->broken) {
        int position = m->layers.len + 2; /* Input is position 1 */
        layer_instantiate(e->sema, m, l, position);
    }
    return v_new(e->arena, V_NONE, call->loc);
}

const Native compile_native = {"compile", call_compile, NULL, NULL, false};
const Native fit_native = {"fit", call_fit, fit_without_data, NULL, false};
const Native add_native = {"add", call_add, NULL, NULL, false};
const Native summary_native = {"summary", call_summary, NULL, NULL, false};
