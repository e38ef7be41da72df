/* A weight without a gradient is neither decayed nor updated (Keras drops it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <klc/runtime.h>

#include "e2e_nograd.h"

static void untouched_by_weight_decay(void **state)
{
    (void)state;
    klc_model *m = klc_model_new(&nograd_def, 3);
    assert_non_null(m);
    float x[4 * 3] = {1, 2, 3, -1, 0.5f, 2, 0, 1, -2, 3, 1, 1};
    float y[4 * 2] = {1, 0, 0, 1, 1, 1, 0, 0};
    klc_tensor tx = klc_tensor_wrap(KLC_F32, 2, (int64_t[]){4, 3}, x);
    klc_tensor ty = klc_tensor_wrap(KLC_F32, 2, (int64_t[]){4, 2}, y);
    float w0[6];
    memcpy(w0, klc_model_weight(m, "with_spare.w"), sizeof w0);
    klc_fit_options o = {.epochs = 3, .batch_size = 4, .no_shuffle = 1};
    assert_int_equal(klc_fit(m, &tx, &ty, &o, NULL), 0);
    const float *spare = klc_model_weight(m, "with_spare.spare");
    for (int i = 0; i < 3; i++)
        assert_true(spare[i] == 1.0f); /* decay would give 0.999 after one step */
    const float *w = klc_model_weight(m, "with_spare.w");
    assert_true(memcmp(w, w0, sizeof w0) != 0); /* the other weight trained */
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(untouched_by_weight_decay)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
