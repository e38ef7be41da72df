/*
 * convert.c — the Keras weight-file tests' converter (keras_h5.py): loads a
 * weights file into the model KLC_TEST_MODEL (a klc_model_def compiled from
 * models.kl) with klc_load_weights and writes it with klc_save_weights, so
 * the format of each side is chosen by its name or content.
 *
 *     convert IN OUT     load IN, save OUT
 *     convert IN         load IN only
 *
 * Exit status 0 on success, 1 with klc_last_error() on stderr otherwise.
 */
#include <stdio.h>

#include <klc/runtime.h>

#include KLC_TEST_HEADER

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: convert IN [OUT]\n");
        return 2;
    }
    klc_model *m = klc_model_new(&KLC_TEST_MODEL, 1);
    if (!m) {
        fprintf(stderr, "convert: %s\n", klc_last_error());
        return 1;
    }
    int rc = klc_load_weights(m, argv[1]);
    if (rc == 0 && argc == 3)
        rc = klc_save_weights(m, argv[2]);
    if (rc)
        fprintf(stderr, "convert: %s\n", klc_last_error());
    klc_model_free(m);
    return rc ? 1 : 0;
}
