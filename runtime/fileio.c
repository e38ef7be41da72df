/*
 * fileio.c — whole-file reads and atomic (temp file + fsync + rename) writes.
 */
#define _POSIX_C_SOURCE 200809L

#include "fileio.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "klc/runtime.h"

int klc_read_file(const char *path, unsigned char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return klc_seterr("%s: cannot open: %s", path, strerror(errno));

    /* Read in growing chunks: works for pipes and files whose size changes. */
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return klc_seterr("%s: out of memory", path);
    }
    for (;;) {
        if (len + 1 >= cap) {
            unsigned char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                fclose(fp);
                return klc_seterr("%s: out of memory reading the file", path);
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    int failed = ferror(fp);
    int err = errno;
    fclose(fp);
    if (failed) {
        free(buf);
        return klc_seterr("%s: read error: %s", path, strerror(err));
    }
    buf[len] = '\0';
    *data = buf;
    *size = len;
    return 0;
}

int klc_load_with(klc_tensor *t, const char *path, klc_parse_fn parse)
{
    unsigned char *buf;
    size_t size;
    memset(t, 0, sizeof *t);
    if (klc_read_file(path, &buf, &size) != 0)
        return -1;
    int rc = parse(t, path, buf, size);
    free(buf);
    return rc;
}

int klc_atomic_open(klc_atomic_file *af, const char *path)
{
    static atomic_uint counter;
    memset(af, 0, sizeof *af);
    size_t n = strlen(path);
    if (n == 0)
        return klc_seterr("cannot write a file with an empty name");
    if (n >= sizeof af->path)
        return klc_seterr("%.64s...: path too long", path);
    memcpy(af->path, path, n + 1);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp-%ld-%u", path, (long)getpid(),
             atomic_fetch_add(&counter, 1));
    /* "x": never clobber a file that happens to have the temporary name. */
    af->fp = fopen(af->tmp, "wbx");
    if (!af->fp) {
        int err = errno;
        af->tmp[0] = '\0';
        return klc_seterr("%s: cannot create: %s", path, strerror(err));
    }
    return 0;
}

int klc_atomic_commit(klc_atomic_file *af)
{
    if (!af->fp)
        return klc_seterr("%s: file is not open for writing", af->path);
    int err = 0;
    if (fflush(af->fp) != 0 || ferror(af->fp))
        err = errno ? errno : EIO;
    else if (fsync(fileno(af->fp)) != 0)
        err = errno;
    if (fclose(af->fp) != 0 && !err)
        err = errno;
    af->fp = NULL;
    if (!err && rename(af->tmp, af->path) != 0)
        err = errno;
    if (err) {
        remove(af->tmp);
        af->tmp[0] = '\0';
        return klc_seterr("%s: cannot write: %s", af->path, strerror(err));
    }
    af->tmp[0] = '\0';
    return 0;
}

void klc_atomic_abort(klc_atomic_file *af)
{
    if (af->fp) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp[0]) {
        remove(af->tmp);
        af->tmp[0] = '\0';
    }
}
