/*
 * test_checkpoint.c — weights and checkpoints in safetensors: round trips,
 * metadata, mismatching files, foreign files, and a fit resumed from a
 * checkpoint that ends bit for bit where the uninterrupted fit does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_model.h"
#include "model.h"
#include "safetensors.h"

static void assert_error_is(const char *want)
{
    if (strcmp(klc_last_error(), want) != 0)
        fail_msg("error \"%s\", expected \"%s\"", klc_last_error(), want);
}

static void assert_same_model(const klc_model *a, const klc_model *b)
{
    const klc_model_def *def = a->def;
    assert_memory_equal(a->params, b->params, (size_t)def->n_params * sizeof(float));
    assert_memory_equal(a->state, b->state, (size_t)def->n_state * sizeof(float));
    assert_memory_equal(a->slots, b->slots, (size_t)(def->n_slots ? def->n_slots : 1) *
                                                sizeof(float) * (def->n_slots ? 1 : 0));
    assert_int_equal(a->iteration, b->iteration);
}

static void test_weights_round_trip(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 40, 31, 0), 0);
    klc_model *a = klc_model_new(&fake_adam_def, 1);
    klc_fit_options opt = { .epochs = 1 };
    assert_int_equal(klc_fit(a, &x, &y, &opt, NULL), 0);
    const char *path = fake_path("w.safetensors");
    assert_int_equal(klc_save_weights(a, path), 0);

    klc_st_file f;
    assert_int_equal(klc_st_read(&f, path), 0);
    assert_int_equal(f.n_tensors, 3);
    assert_string_equal(klc_st_meta_get(&f, "format"), "klc");
    assert_string_equal(klc_st_meta_get(&f, "model"), "model");
    assert_string_equal(klc_st_meta_get(&f, "signature"),
                        "dense.kernel[4,3];dense.bias[3];dense.input_mean[4]");
    assert_null(klc_st_find(&f, "optimizer.iterations"));
    const klc_st_tensor *k = klc_st_find(&f, "dense.kernel");
    assert_int_equal(k->dtype, KLC_F32);
    assert_int_equal(k->rank, 2);
    assert_int_equal(k->shape[0], 4);
    assert_int_equal(k->shape[1], 3);
    assert_memory_equal(k->data, klc_model_weight(a, "dense.kernel"), 12 * sizeof(float));
    klc_st_free(&f);

    /* a weights-only file sets the weights and leaves the optimizer alone */
    klc_model *b = klc_model_new(&fake_adam_def, 2);
    assert_int_equal(klc_load_weights(b, path), 0);
    assert_memory_equal(a->params, b->params, 15 * sizeof(float));
    assert_memory_equal(a->state, b->state, 4 * sizeof(float));
    assert_int_equal(b->iteration, 0);
    assert_int_equal(b->optimizer_built, 0);
    assert_true(b->seed == 2);

    /* no temporary files are left beside it */
    DIR *dir = opendir(fake_path(""));
    struct dirent *e;
    while ((e = readdir(dir)))
        assert_null(strstr(e->d_name, ".tmp"));
    closedir(dir);
    klc_model_free(a);
    klc_model_free(b);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

static void test_checkpoint_contents(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 40, 32, 0), 0);
    klc_model *a = klc_model_new(&fake_adam_def, 77);
    klc_fit_options opt = { .epochs = 2 };
    assert_int_equal(klc_fit(a, &x, &y, &opt, NULL), 0);
    const char *path = fake_path("c.safetensors");
    assert_int_equal(klc_save_checkpoint(a, path), 0);
    klc_st_file f;
    assert_int_equal(klc_st_read(&f, path), 0);
    assert_int_equal(f.n_tensors, 3 + 1 + 4);
    const klc_st_tensor *it = klc_st_find(&f, "optimizer.iterations");
    assert_non_null(it);
    assert_int_equal(it->dtype, KLC_I64);
    assert_int_equal(it->rank, 0);
    int64_t iterations;
    memcpy(&iterations, it->data, sizeof iterations);
    assert_int_equal(iterations, 6);
    const klc_st_tensor *v = klc_st_find(&f, "optimizer.dense.bias.velocity");
    assert_non_null(v);
    assert_memory_equal(v->data, a->slots + 2 * 12 + 3, 3 * sizeof(float));
    assert_string_equal(klc_st_meta_get(&f, "seed"), "77");
    assert_string_equal(klc_st_meta_get(&f, "epoch"), "2");
    klc_st_free(&f);

    klc_model *b = klc_model_new(&fake_adam_def, 5);
    assert_int_equal(klc_load_weights(b, path), 0);
    assert_same_model(a, b);
    assert_true(b->seed == 77);
    assert_int_equal(b->epoch, 2);
    assert_int_equal(b->optimizer_built, 1);
    klc_model_free(a);
    klc_model_free(b);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/*
 * Fit 4 epochs, against fit 2 epochs, checkpoint (by ModelCheckpoint), a new
 * model with another seed, load, fit epochs 2..4 with initial_epoch = 2:
 * weights, state, Adam slots, iterations and the last epochs' logs agree bit
 * for bit (shuffles and dropout masks continue exactly).
 */
static void test_resume_is_exact(void **state)
{
    (void)state;
    klc_tensor x, y;
    assert_int_equal(fake_make_data(&x, &y, 90, 33, 0), 0);
    klc_model *full = klc_model_new(&fake_adam_def, 2024);
    klc_fit_options opt = { .epochs = 4, .batch_size = 16, .validation_split = 0.2 };
    klc_history hf;
    assert_int_equal(klc_fit(full, &x, &y, &opt, &hf), 0);

    const char *path = fake_path("resume-{epoch:02d}.safetensors");
    klc_model *first = klc_model_new(&fake_adam_def, 2024);
    klc_fit_options o1 = opt;
    o1.epochs = 2;
    o1.checkpoint.path = path;
    assert_int_equal(klc_fit(first, &x, &y, &o1, NULL), 0);

    klc_model *resumed = klc_model_new(&fake_adam_def, 1);
    assert_int_equal(klc_load_weights(resumed, fake_path("resume-02.safetensors")), 0);
    klc_fit_options o2 = opt;
    o2.initial_epoch = 2;
    klc_history hr;
    assert_int_equal(klc_fit(resumed, &x, &y, &o2, &hr), 0);
    assert_same_model(full, resumed);
    assert_memory_equal(full->slots, resumed->slots, (size_t)fake_adam_def.n_slots * sizeof(float));
    assert_int_equal(hr.n_epochs, 2);
    for (int e = 0; e < 2; e++) {
        assert_int_equal(hr.epochs[e], e + 2);
        assert_memory_equal(&hr.logs[e], &hf.logs[e + 2], sizeof hr.logs[e]);
    }
    /* without the optimizer state it would not be exact */
    klc_model *weights_only = klc_model_new(&fake_adam_def, 2024);
    const char *wpath = fake_path("resume-weights.safetensors");
    assert_int_equal(klc_save_weights(first, wpath), 0);
    assert_int_equal(klc_load_weights(weights_only, wpath), 0);
    assert_int_equal(klc_fit(weights_only, &x, &y, &o2, NULL), 0);
    assert_memory_not_equal(full->params, weights_only->params,
                            (size_t)fake_adam_def.n_params * sizeof(float));
    klc_history_free(&hf);
    klc_history_free(&hr);
    klc_model_free(full);
    klc_model_free(first);
    klc_model_free(resumed);
    klc_model_free(weights_only);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
}

/* Variants of the fake model's weights, for files that do not match. */
static klc_tensor_def other_tensors[4];
static klc_model_def variant(int which)
{
    klc_model_def def = fake_sgd_def;
    memcpy(other_tensors, fake_sgd_def.tensors, 3 * sizeof other_tensors[0]);
    def.tensors = other_tensors;
    if (which == 0) { /* a kernel of [5, 3] */
        other_tensors[0].shape[0] = 5;
        other_tensors[0].size = 15;
        other_tensors[1].offset = 15;
        def.n_params = 18;
        def.input_shape[0] = 5;
    } else if (which == 1) { /* one more weight */
        other_tensors[3] = other_tensors[1];
        other_tensors[3].name = "dense_1.bias";
        other_tensors[3].layer = "dense_1";
        other_tensors[3].offset = 15;
        def.n_tensors = 4;
        def.n_params = 18;
    } else { /* no state */
        def.n_tensors = 2;
        def.n_state = 0;
    }
    return def;
}

static void test_mismatching_files(void **state)
{
    (void)state;
    klc_model *a = klc_model_new(&fake_sgd_def, 1);
    const char *path = fake_path("model.safetensors");
    assert_int_equal(klc_save_weights(a, path), 0);
    char want[8192];

    klc_model_def d0 = variant(0);
    klc_model *m = klc_model_new(&d0, 1);
    float before[18];
    memcpy(before, m->params, sizeof before);
    assert_int_equal(klc_load_weights(m, path), -1);
    snprintf(want, sizeof want,
             "%s: tensor 'dense.kernel' has shape [4, 3], but model 'model' expects [5, 3]", path);
    assert_error_is(want);
    assert_memory_equal(before, m->params, sizeof before); /* untouched */
    klc_model_free(m);

    klc_model_def d1 = variant(1);
    m = klc_model_new(&d1, 1);
    assert_int_equal(klc_load_weights(m, path), -1);
    snprintf(want, sizeof want, "%s has no tensor 'dense_1.bias' (model 'model' needs it)", path);
    assert_error_is(want);
    klc_model_free(m);

    klc_model_def d2 = variant(2);
    m = klc_model_new(&d2, 1);
    assert_int_equal(klc_load_weights(m, path), -1);
    snprintf(want, sizeof want, "%s has tensor 'dense.input_mean' that model 'model' does not have",
             path);
    assert_error_is(want);
    klc_model_free(m);

    /* a checkpoint of an Adam model into an SGD model: its slots are foreign */
    klc_model *adam = klc_model_new(&fake_adam_def, 1);
    const char *cpath = fake_path("adam.safetensors");
    assert_int_equal(klc_save_checkpoint(adam, cpath), 0);
    assert_int_equal(klc_load_weights(a, cpath), -1);
    assert_non_null(strstr(klc_last_error(), "has tensor 'optimizer.dense.bias.momentum' that"));
    klc_model_free(adam);

    assert_int_equal(klc_load_weights(a, fake_path("missing.safetensors")), -1);
    assert_non_null(strstr(klc_last_error(), "missing.safetensors"));
    klc_model_free(a);
}

/* A file from another tool: float64, no metadata, other key order. */
static void test_foreign_file(void **state)
{
    (void)state;
    double kernel[12], bias[3] = { 0.5, -0.25, 1e-3 }, mean[4] = { 1, 2, 3, 4 };
    for (int i = 0; i < 12; i++)
        kernel[i] = 0.1 * i - 0.3;
    klc_st_tensor ts[3] = {
        { "dense.input_mean", KLC_F64, 1, { 4 }, mean, sizeof mean },
        { "dense.bias", KLC_F64, 1, { 3 }, bias, sizeof bias },
        { "dense.kernel", KLC_F64, 2, { 4, 3 }, kernel, sizeof kernel },
    };
    const char *path = fake_path("foreign.safetensors");
    assert_int_equal(klc_st_write(path, ts, 3, NULL, 0), 0);
    klc_model *m = klc_model_new(&fake_sgd_def, 1);
    assert_int_equal(klc_load_weights(m, path), 0);
    const float *k = klc_model_weight(m, "dense.kernel");
    for (int i = 0; i < 12; i++)
        assert_true(k[i] == (float)kernel[i]);
    assert_true(klc_model_weight(m, "dense.bias")[2] == (float)1e-3);
    assert_true(klc_model_weight(m, "dense.input_mean")[3] == 4.0f);

    /* integer weights are refused */
    int32_t ints[4] = { 1, 2, 3, 4 };
    ts[0].dtype = KLC_I32;
    ts[0].data = ints;
    ts[0].nbytes = sizeof ints;
    assert_int_equal(klc_st_write(path, ts, 3, NULL, 0), 0);
    assert_int_equal(klc_load_weights(m, path), -1);
    assert_non_null(strstr(klc_last_error(), "'dense.input_mean' has dtype int32"));
    klc_model_free(m);
}

/* A copy of checkpoint `from` at `to` with metadata `key` set to `value`. */
static void rewrite_meta(const char *from, const char *to, const char *key, const char *value)
{
    klc_st_file f;
    assert_int_equal(klc_st_read(&f, from), 0);
    int found = -1;
    for (int i = 0; i < f.n_meta; i++)
        if (strcmp(f.meta[i].key, key) == 0)
            found = i;
    assert_true(found >= 0);
    char *owned = f.meta[found].value;
    f.meta[found].value = (char *)value; /* the writer only reads it */
    assert_int_equal(klc_st_write(to, f.tensors, f.n_tensors, f.meta, f.n_meta), 0);
    f.meta[found].value = owned;
    klc_st_free(&f);
}

/* seed and epoch must be non-negative decimal integers (epoch an int): a
 * malformed one fails naming the file, and the model stays as it was. */
static void test_bad_metadata(void **state)
{
    (void)state;
    klc_model *a = klc_model_new(&fake_adam_def, 77);
    a->epoch = 3;
    const char *good = fake_path("meta-good.safetensors");
    assert_int_equal(klc_save_checkpoint(a, good), 0);
    static const struct {
        const char *key, *value;
    } bad[] = {
        { "epoch", "99999999999" }, { "epoch", "2147483648" }, { "epoch", "-1" },
        { "epoch", "3x" },          { "epoch", "" },           { "epoch", " 3" },
        { "seed", "banana" },       { "seed", "-5" },          { "seed", "18446744073709551616" },
        { "seed", "+5" },
    };
    char path[4096], want[8192];
    snprintf(path, sizeof path, "%s", fake_path("meta-bad.safetensors"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rewrite_meta(good, path, bad[i].key, bad[i].value);
        klc_model *m = klc_model_new(&fake_adam_def, 5);
        float before[15];
        memcpy(before, m->params, sizeof before);
        assert_int_equal(klc_load_weights(m, path), -1);
        snprintf(want, sizeof want, "%s: metadata '%s' is '%s', not a non-negative integer", path,
                 bad[i].key, bad[i].value);
        if (strncmp(klc_last_error(), want, strlen(want)) != 0)
            fail_msg("error \"%s\", expected \"%s...\"", klc_last_error(), want);
        assert_memory_equal(before, m->params, sizeof before); /* untouched */
        assert_true(m->seed == 5);
        assert_int_equal(m->epoch, 0);
        assert_int_equal(m->iteration, 0);
        assert_int_equal(m->optimizer_built, 0);
        klc_model_free(m);
    }
    /* the largest values load */
    rewrite_meta(good, path, "epoch", "2147483647");
    rewrite_meta(path, path, "seed", "18446744073709551615");
    klc_model *m = klc_model_new(&fake_adam_def, 5);
    assert_int_equal(klc_load_weights(m, path), 0);
    assert_int_equal(m->epoch, 2147483647);
    assert_true(m->seed == UINT64_MAX);
    klc_model_free(m);
    klc_model_free(a);
}

/* A float64 value beyond float32's range is refused (klc_tensor_convert's
 * rule), not loaded as inf; infinities themselves load. */
static void test_float64_out_of_range(void **state)
{
    (void)state;
    double kernel[12] = { 0 }, bias[3] = { 0 }, mean[4] = { 0 };
    klc_st_tensor ts[3] = {
        { "dense.kernel", KLC_F64, 2, { 4, 3 }, kernel, sizeof kernel },
        { "dense.bias", KLC_F64, 1, { 3 }, bias, sizeof bias },
        { "dense.input_mean", KLC_F64, 1, { 4 }, mean, sizeof mean },
    };
    const char *path = fake_path("big.safetensors");
    klc_model *m = klc_model_new(&fake_sgd_def, 1);
    float before[15];
    memcpy(before, m->params, sizeof before);
    bias[2] = -1e39;
    assert_int_equal(klc_st_write(path, ts, 3, NULL, 0), 0);
    assert_int_equal(klc_load_weights(m, path), -1);
    char want[8192];
    snprintf(want, sizeof want,
             "%s: tensor 'dense.bias': cannot convert float64 to float32: value %.17g at index 2 "
             "is out of range",
             path, -1e39);
    assert_error_is(want);
    assert_memory_equal(before, m->params, sizeof before);

    bias[2] = -HUGE_VAL;
    assert_int_equal(klc_st_write(path, ts, 3, NULL, 0), 0);
    assert_int_equal(klc_load_weights(m, path), 0);
    assert_true(isinf(klc_model_weight(m, "dense.bias")[2]));
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weights_round_trip),
        cmocka_unit_test(test_checkpoint_contents),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_mismatching_files),
        cmocka_unit_test(test_foreign_file),
        cmocka_unit_test(test_bad_metadata),
        cmocka_unit_test(test_float64_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
