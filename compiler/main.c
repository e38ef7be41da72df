/* main.c — temporary driver: parse and dump (replaced by the full CLI). */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "diag.h"
#include "parse.h"

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    Arena *a = arena_new();
    Diag *d = diag_new(a, stderr);
    SourceFile *f = source_read(a, argv[1]);
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    int errors = 0;
    Node *p = parse_file(a, d, f, &errors);
    diag_finish(d);
    if (argc > 2 && strcmp(argv[2], "--dump-ast") == 0)
        ast_dump(stdout, p);
    arena_free(a);
    return errors ? 1 : 0;
}
