/* driver.c — stage sequencing and the simple outputs (summary, dumps). */
#include "driver.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/arena.h"
#include "base/cbuf.h"
#include "base/diag.h"
#include "ir/ir.h"
#include "ir/program.h"
#include "front/parse.h"
#include "opt/pipeline.h"
#include "check/sema.h"
#include "back/emit_c.h"
#include "back/emit_dot.h"
#include "back/emit_infer.h"
#include "back/plan.h"
#include "back/quant.h"
#include "summary.h"

static void print_summary(Arena *a, const Model *m)
{
    int n = m->layers.len;
    klc_summary_row *rows = arena_alloc(a, sizeof *rows * (size_t)(n + 1));
    klc_summary_totals t = {0, 0, -1, 0};
    for (int i = 0; i < n; i++) {
        const LayerInst *li = m->layers.items[i];
        rows[i].name = li->name;
        rows[i].type = li->type;
        rows[i].output_shape = shape_keras(a, &li->out_shape);
        rows[i].params = li->params;
        t.trainable += li->trainable_params;
        t.non_trainable += li->params - li->trainable_params;
    }
    klc_summary_print(stdout, m->keras_name, rows, n, &t, 0);
}

/* model.c -> model.h (anything else: append .h) */
static const char *header_path(Arena *a, const char *c_path)
{
    size_t len = strlen(c_path);
    if (len > 2 && !strcmp(c_path + len - 2, ".c"))
        return arena_printf(a, "%.*s.h", (int)(len - 2), c_path);
    return arena_printf(a, "%s.h", c_path);
}

/* The models to act on: all, or the one named by --model. */
static int select_models(const DriverOptions *o, Program *p, Model **out, int max)
{
    int n = 0;
    for (int i = 0; i < p->models.len && n < max; i++) {
        Model *m = p->models.items[i];
        if (!o->model || !strcmp(o->model, m->var))
            out[n++] = m;
    }
    if (o->model && n == 0) {
        fprintf(stderr, "klc: %s defines no model named '%s'", o->input, o->model);
        for (int i = 0; i < p->models.len; i++)
            fprintf(stderr, "%s'%s'", i ? ", " : " (models: ", ((Model *)p->models.items[i])->var);
        fputs(p->models.len ? ")\n" : "\n", stderr);
        return -1;
    }
    return n;
}

/* Check's last step and the middle end, model by model in program order
 * (so each model's diagnostics come together): the model's output and loss
 * (sema_finish_model), then, while no error has been reported, its
 * gradients, whose diagnostics are part of checking (--check reports
 * weights without one); at last, unless `upto` stops earlier, fusion.
 * Returns the number of errors reported in all. */
static int finish_and_prepare(Arena *a, Diag *d, Program *p, DumpStage upto)
{
    for (int i = 0; i < p->models.len; i++) {
        Model *m = p->models.items[i];
        if (sema_finish_model(a, d, m) && upto != DUMP_CHECK && diag_error_count(d) == 0)
            pipeline_differentiate(m, d);
    }
    diag_finish(d);
    int errors = diag_error_count(d);
    if (errors || upto == DUMP_CHECK || upto == DUMP_AD)
        return errors;
    for (int i = 0; i < p->models.len; i++)
        pipeline_fuse(p->models.items[i]);
    return 0;
}

static void dump_ir(Arena *a, Model **models, int n, DumpStage stage)
{
    for (int i = 0; i < n; i++) {
        Model *m = models[i];
        printf("%s# model %s\n", i ? "\n" : "", m->var);
        if (stage == DUMP_PLAN) {
            plan_dump(stdout, plan_model(a, m));
            continue;
        }
        ir_dump(stdout, m->train);
        ir_dump(stdout, m->infer);
        if (m->predict)
            ir_dump(stdout, m->predict);
    }
}

int driver_run(const DriverOptions *o)
{
    Arena *a = arena_new();
    Diag *d = diag_new(a, stderr);
    diag_set_color(d, o->color);
    diag_set_warnings(d, !o->no_warnings);
    int errors = 0;
    int status = 0;

    if (o->mode == MODE_DUMP_AST) {
        const char *why;
        SourceFile *f = source_read(a, o->input, &why);
        if (!f) {
            diag_plain_error(d, "cannot read %s: %s", o->input, why);
            arena_free(a);
            return 1;
        }
        Node *p = parse_file(a, d, f, &errors);
        diag_finish(d);
        ast_dump(stdout, p);
        arena_free(a);
        return errors ? 1 : 0;
    }

    Program *p = sema_run(a, d, o->input, &errors);
    DumpStage upto = o->mode == MODE_DUMP_IR ? o->dump_stage : DUMP_FUSE;
    if (p)
        errors += finish_and_prepare(a, d, p, upto);
    else
        diag_finish(d);
    if (errors || !p) {
        arena_free(a);
        return 1;
    }
    Model *models[64];
    int n = select_models(o, p, models, 64);
    if (n < 0) {
        arena_free(a);
        return 2;
    }
    /* every output but the dumps needs a model; --summary only says so */
    if (n == 0 && (o->mode == MODE_SUMMARY || o->mode == MODE_TRAIN || o->mode == MODE_INFERENCE ||
                   o->mode == MODE_DOT)) {
        fprintf(stderr, "klc: %s defines no model\n", o->input);
        if (o->mode != MODE_SUMMARY) {
            arena_free(a);
            return 1;
        }
    }
    switch (o->mode) {
    case MODE_CHECK:
        break;
    case MODE_SUMMARY:
        for (int i = 0; i < n; i++) {
            if (i)
                fputc('\n', stdout);
            print_summary(a, models[i]);
        }
        break;
    case MODE_DUMP_IR:
        dump_ir(a, models, n, o->dump_stage);
        break;
    case MODE_TRAIN: {
        if (o->with_main && n > 1) {
            fprintf(stderr, "klc: %s defines %d models; choose the trainer's with --model NAME\n", o->input, n);
            status = 2;
            break;
        }
        for (int i = 0; i < n; i++)
            if (!models[i]->compiled) {
                fprintf(stderr, "klc: model '%s' has no compile(...): training code needs an optimizer and a loss "
                        "(use --inference for the forward pass alone)\n", models[i]->var);
                status = 1;
            }
        if (status)
            break;
        PlannedModel **planned = arena_alloc(a, sizeof *planned * (size_t)(n + 1));
        for (int i = 0; i < n; i++)
            planned[i] = plan_model(a, models[i]);
        EmitOptions eo;
        memset(&eo, 0, sizeof eo);
        eo.c_path = o->output;
        eo.h_path = header_path(a, o->output);
        eo.source = o->input;
        eo.with_main = o->with_main;
        eo.data_parallel = o->data_parallel;
        if (emit_training(a, planned, n, &eo) != 0)
            status = 2;
        break;
    }
    case MODE_INFERENCE: {
        if (n > 1) {
            fprintf(stderr, "klc: %s defines %d models; choose one with --model NAME\n", o->input, n);
            status = 2;
            break;
        }
        InferOptions io;
        memset(&io, 0, sizeof io);
        io.c_path = o->output;
        io.h_path = header_path(a, o->output);
        io.source = o->input;
        io.weights = o->weights;
        io.no_blas = o->no_blas;
        io.index32 = o->index32;
        io.selftest_x = o->selftest_x;
        io.selftest_y = o->selftest_y;
        io.quantize = o->quantize != NULL;
        io.calibrate = o->calibrate;
        io.batch_capacity = o->batch_capacity;
        status = io.quantize ? emit_quantized(a, plan_model(a, models[0]), &io)
                             : emit_inference(a, plan_model(a, models[0]), &io);
        break;
    }
    case MODE_DOT: {
        CBuf b;
        cb_init(&b);
        for (int i = 0; i < n; i++)
            emit_dot(&b, a, models[i]);
        if (!o->output) {
            fwrite(b.data, 1, b.len, stdout);
        } else if (cb_write_file(&b, o->output) != 0) {
            fprintf(stderr, "klc: cannot write %s: %s\n", o->output, strerror(errno));
            status = 2;
        }
        cb_free(&b);
        break;
    }
    default:
        break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "klc: error writing to standard output\n");
        status = 2;
    }
    arena_free(a);
    return status;
}

int driver_check_source(const char *path, const char *text, size_t len, FILE *diag_out, int *n_errors)
{
    Arena *a = arena_new();
    Diag *d = diag_new(a, diag_out);
    int errors = 0;
    Program *p = sema_run_source(a, d, path, text, len, &errors);
    if (p)
        finish_and_prepare(a, d, p, DUMP_AD);
    else
        diag_finish(d);
    int n = diag_error_count(d);
    if (n_errors)
        *n_errors = n;
    arena_free(a);
    return errors || n || !p ? 1 : 0;
}

int driver_compile_source(const char *path, const char *text, size_t len, FILE *diag_out)
{
    Arena *a = arena_new();
    Diag *d = diag_new(a, diag_out);
    int errors = 0;
    Program *p = sema_run_source(a, d, path, text, len, &errors);
    if (p)
        errors += finish_and_prepare(a, d, p, DUMP_FUSE);
    else
        diag_finish(d);
    if (errors || !p || diag_error_count(d)) {
        arena_free(a);
        return 1;
    }
    int status = 0;
    for (int i = 0; i < p->models.len; i++) {
        Model *m = p->models.items[i];
        PlannedModel *pm = plan_model(a, m);
        CBuf c, h;
        if (m->compiled) {
            EmitOptions eo;
            memset(&eo, 0, sizeof eo);
            eo.c_path = "model.c";
            eo.h_path = "model.h";
            eo.source = path;
            eo.c_out = &c;
            eo.h_out = &h;
            if (emit_training(a, &pm, 1, &eo) != 0) {
                status = 1;
                continue;
            }
            cb_free(&c);
            cb_free(&h);
        }
        InferOptions io;
        memset(&io, 0, sizeof io);
        io.c_path = "model_infer.c";
        io.h_path = "model_infer.h";
        io.source = path;
        io.batch_capacity = 1;
        io.c_out = &c;
        io.h_out = &h;
        if (emit_inference(a, pm, &io) != 0) {
            status = 1;
            continue;
        }
        cb_free(&c);
        cb_free(&h);
    }
    arena_free(a);
    return status;
}
