/* Weightless models train (nothing to update) and evaluate: identity with mse
 * gives loss 0; the crossentropy from logits gives log(3) on equal logits. */
#include <math.h>
#include <stdio.h>

#include <klc/runtime.h>

#include "emit_weightless.h"

int main(void)
{
    float x[2 * 3] = {1, 1, 1, 1, 1, 1};
    float y[2 * 3] = {1, 1, 1, 1, 1, 1};
    float onehot[2 * 3] = {1, 0, 0, 0, 0, 1};
    klc_tensor tx = klc_tensor_wrap(KLC_F32, 2, (int64_t[]){2, 3}, x);
    klc_tensor ty = klc_tensor_wrap(KLC_F32, 2, (int64_t[]){2, 3}, y);
    klc_tensor to = klc_tensor_wrap(KLC_F32, 2, (int64_t[]){2, 3}, onehot);
    klc_model *a = klc_model_new(&identity_def, 1), *b = klc_model_new(&logits_def, 1);
    klc_logs la, lb;
    klc_fit_options o = {.epochs = 2};
    if (!a || !b || klc_fit(a, &tx, &ty, &o, NULL) || klc_fit(b, &tx, &to, &o, NULL) || klc_evaluate(a, &tx, &ty, &la) ||
        klc_evaluate(b, &tx, &to, &lb)) {
        fprintf(stderr, "%s\n", klc_last_error());
        return 1;
    }
    double l1 = klc_logs_get(&la, "loss"), l2 = klc_logs_get(&lb, "loss");
    printf("identity mse %g, logits crossentropy %g (log 3 = %g)\n", l1, l2, log(3.0));
    klc_model_free(a);
    klc_model_free(b);
    return l1 == 0 && fabs(l2 - log(3.0)) < 1e-6 ? 0 : 1;
}
