/* Ids outside an embedding table are an error naming the id and its row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <klc/runtime.h>

#include "e2e_ids.h"

static void out_of_range_ids_are_refused(void **state)
{
    (void)state;
    assert_int_equal(ids_def.input_id_limit, 10);
    klc_model *m = klc_model_new(&ids_def, 1);
    assert_non_null(m);
    int32_t x[4 * 3] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1};
    int32_t y[4] = {0, 1, 0, 1};
    klc_tensor tx = klc_tensor_wrap(KLC_I32, 2, (int64_t[]){4, 3}, x);
    klc_tensor ty = klc_tensor_wrap(KLC_I32, 1, (int64_t[]){4}, y);
    klc_fit_options o = {.epochs = 1};
    assert_int_equal(klc_fit(m, &tx, &ty, &o, NULL), 0);
    x[7] = 10; /* row 2 */
    assert_int_equal(klc_fit(m, &tx, &ty, &o, NULL), -1);
    assert_non_null(strstr(klc_last_error(), "id 10 (row 2) is out of range"));
    x[7] = -1;
    klc_tensor out;
    assert_int_equal(klc_predict(m, &tx, &out), -1);
    assert_non_null(strstr(klc_last_error(), "id -1 (row 2)"));
    klc_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(out_of_range_ids_are_refused)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
