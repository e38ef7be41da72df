/* parse.c — runs the reentrant scanner and the parser over one source file. */
#include "front/parse.h"

#include <stdarg.h>

#include "klc_parser.h"
#include "klc_lexer.h"

void parse_error(ParseState *ps, SrcLoc loc, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ps->errors++;
    diag_error(ps->diag, loc, "%s", msg);
}

Node *parse_file(Arena *a, Diag *d, const SourceFile *file, int *errors)
{
    ParseState ps = {0};
    ps.ast.arena = a;
    ps.ast.file = file;
    ps.diag = d;

    yyscan_t scanner;
    if (klylex_init_extra(&ps, &scanner) != 0)
        klc_internal_fault(__FILE__, __LINE__, "cannot create the scanner");
    YY_BUFFER_STATE buf = kly_scan_bytes(file->text, (int)file->len, scanner);
    klyparse(scanner, &ps);
    kly_delete_buffer(buf, scanner);
    klylex_destroy(scanner);

    if (!ps.program) { /* the parser gave up before reducing the program */
        ps.program = ast_new(&ps.ast, N_PROGRAM, (SrcLoc){file, 0, 0});
    }
    *errors += ps.errors;
    return ps.program;
}
