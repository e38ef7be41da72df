/*
 * fileio.c — whole-file reads and atomic (temp file + fsync + rename) writes.
 */
#define _POSIX_C_SOURCE 200809L

#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "klc/runtime.h"

const char *klc_not_regular(mode_t mode)
{
    if (S_ISREG(mode))
        return NULL;
    if (S_ISDIR(mode))
        return "is a directory";
    if (S_ISFIFO(mode))
        return "is a named pipe (FIFO), not a regular file";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "is a device, not a regular file";
    if (S_ISSOCK(mode))
        return "is a socket, not a regular file";
    return "is not a regular file";
}

int klc_read_file(const char *path, unsigned char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    /* O_NONBLOCK: opening a FIFO without a writer returns at once instead of hanging */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return klc_seterr("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    const char *why = NULL;
    if (fstat(fd, &st) != 0)
        why = strerror(errno);
    else
        why = klc_not_regular(st.st_mode);
    if (why) {
        close(fd);
        return klc_seterr("%s: cannot read: %s", path, why);
    }
    /* Read to the end: the size may change while reading. */
    size_t cap = (size_t)st.st_size + 1, len = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return klc_seterr("%s: out of memory reading %zu bytes", path, cap);
    }
    for (;;) {
        if (len + 1 >= cap) {
            unsigned char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                close(fd);
                return klc_seterr("%s: out of memory reading the file", path);
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            free(buf);
            close(fd);
            return klc_seterr("%s: read error: %s", path, strerror(err));
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
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
    if (rc == 0)
        klc_tensor_set_source(t, path);
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
    /* Fault injection for the tests (docs/reliability.md): KLC_FAULT_FULL_DISK=1
     * sends the writes to /dev/full, where the kernel fails them with ENOSPC. */
    const char *fault = getenv("KLC_FAULT_FULL_DISK");
    if (fault && *fault && strcmp(fault, "0") != 0) {
        int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
        if (full >= 0) {
            dup2(full, fileno(af->fp));
            close(full);
        }
    }
    return 0;
}

/*
 * After a successful save of `path`: remove the temporary files
 * "<path>.tmp-<pid>-<n>" left by processes that died while writing it (kill -9,
 * a crash).  A temp file of a live process (or of this one) is left alone.
 */
static void remove_stale_temps(const char *path)
{
    char dir[sizeof ((klc_atomic_file *)0)->path];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash) {
        size_t n = (size_t)(slash - path);
        memcpy(dir, path, n ? n : 1); /* "/x": the directory is "/" */
        dir[n ? n : 1] = '\0';
    } else {
        strcpy(dir, ".");
    }
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t blen = strlen(base);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strncmp(name, base, blen) != 0 || strncmp(name + blen, ".tmp-", 5) != 0)
            continue;
        char *end;
        long pid = strtol(name + blen + 5, &end, 10);
        if (pid <= 0 || *end != '-' || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* alive, or not ours to judge */
        char full[sizeof dir + 256];
        snprintf(full, sizeof full, "%s/%s", dir, name);
        remove(full);
    }
    closedir(d);
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
    remove_stale_temps(af->path);
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
