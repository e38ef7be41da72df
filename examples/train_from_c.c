/*
 * train_from_c.c — the seed model trained from C through the runtime's API.
 *
 *     klc examples/seed.kl -o seed.c          (klc_add_model does this in CMake)
 *     cc train_from_c.c seed.c $(pkg-config --cflags --libs klc)
 *     ./train_from_c [DIR]
 *
 * Makes 1,000 random samples with random labels (what the spec's seed
 * program trains on), fits for 3 epochs with batch size 32 as the .kl file
 * says, evaluates, saves the weights, reloads them into a fresh model and
 * checks the reloaded model predicts the same.  Every call reports failure
 * through its return value and klc_last_error().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <klc/runtime.h>

#include "seed.h"

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, klc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    char path[4096];
    snprintf(path, sizeof path, "%s/seed_from_c.safetensors", dir);

    /* data: x [1000, 784] uniform in [0, 1), y [1000] class ids */
    klc_tensor x, y;
    if (klc_tensor_alloc(&x, KLC_F32, 2, (int64_t[]){1000, 784}) || klc_tensor_alloc(&y, KLC_I32, 1, (int64_t[]){1000}))
        return fail("data");
    srand(1);
    for (int64_t i = 0; i < 1000 * 784; i++)
        ((float *)x.data)[i] = (float)rand() / ((float)RAND_MAX + 1.0f);
    for (int64_t i = 0; i < 1000; i++)
        ((int32_t *)y.data)[i] = rand() % 10;

    klc_model *m = klc_model_new(&model_def, 42);
    if (!m)
        return fail("klc_model_new");
    klc_model_summary(m, stdout, 0);

    /* fit: epochs and batch size 0 take the .kl file's fit(epochs = 3, batch_size = 32) */
    klc_history history;
    klc_fit_options opt = {.verbose = 2};
    if (klc_fit(m, &x, &y, &opt, &history) != 0)
        return fail("klc_fit");
    printf("epochs run: %d, last loss %.4f\n", history.n_epochs,
           klc_logs_get(&history.logs[history.n_epochs - 1], "loss"));
    klc_history_free(&history);

    klc_logs logs;
    if (klc_evaluate(m, &x, &y, &logs) != 0)
        return fail("klc_evaluate");
    printf("evaluate: accuracy %.4f, loss %.4f\n", klc_logs_get(&logs, "accuracy"), klc_logs_get(&logs, "loss"));

    if (klc_save_weights(m, path) != 0)
        return fail("klc_save_weights");
    klc_model *again = klc_model_new(&model_def, 7);
    if (!again || klc_load_weights(again, path) != 0)
        return fail("klc_load_weights");
    klc_tensor p1, p2;
    if (klc_predict(m, &x, &p1) != 0 || klc_predict(again, &x, &p2) != 0)
        return fail("klc_predict");
    int same = memcmp(p1.data, p2.data, (size_t)klc_tensor_count(&p1) * sizeof(float)) == 0;
    printf("reloaded model predicts %s\n", same ? "identically" : "DIFFERENTLY");

    klc_tensor_free(&p1);
    klc_tensor_free(&p2);
    klc_model_free(again);
    klc_model_free(m);
    klc_tensor_free(&x);
    klc_tensor_free(&y);
    return same ? 0 : 1;
}
