/*
 * data.c — klc_data_load / klc_data_save: pick the format of a data file by
 * its name.
 */
#include <string.h>

#include "error.h"
#include "klc/runtime.h"

/* Does `path` end with `suffix`, ignoring ASCII case? */
static int ends_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), m = strlen(suffix);
    if (n < m)
        return 0;
    for (size_t i = 0; i < m; i++) {
        char c = path[n - m + i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != suffix[i])
            return 0;
    }
    return 1;
}

int klc_data_load(klc_tensor *t, const char *path)
{
    if (ends_with(path, ".npy"))
        return klc_npy_load(t, path);
    if (ends_with(path, ".csv"))
        return klc_csv_load(t, path);
    /* MNIST's names: train-images-idx3-ubyte, t10k-labels.idx1-ubyte, ... */
    if (ends_with(path, ".idx") || ends_with(path, "-ubyte") || ends_with(path, ".ubyte"))
        return klc_idx_load(t, path);
    memset(t, 0, sizeof *t);
    if (ends_with(path, ".gz") || ends_with(path, ".zip") || ends_with(path, ".npz"))
        return klc_seterr("%s: compressed files are not read; extract it first (accepted: .npy, "
                          ".csv, IDX files named *.idx or *-ubyte)", path);
    return klc_seterr("%s: unknown data file type (accepted: .npy, .csv, IDX files named *.idx "
                      "or *-ubyte such as train-images.idx3-ubyte)", path);
}

int klc_data_save(const klc_tensor *t, const char *path)
{
    if (ends_with(path, ".npy"))
        return klc_npy_save(t, path);
    if (ends_with(path, ".csv"))
        return klc_csv_save(t, path);
    return klc_seterr("%s: unknown data file type to write (accepted: .npy, .csv)", path);
}
