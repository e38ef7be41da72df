/*
 * parse.h — turning a .kl source file into a syntax tree.
 *
 * parse_file runs the Flex scanner and the Bison parser (grammar/klc.l,
 * grammar/klc.y) over one SourceFile.  Syntax errors are reported through
 * Diag as they are found; the grammar's error productions resynchronise at
 * the next ';' or '}' so that independent mistakes are all reported in one
 * run.  The returned tree holds everything that parsed.
 */
#ifndef KLC_PARSE_H
#define KLC_PARSE_H

#include "front/ast.h"
#include "base/diag.h"

/* State shared by the scanner and the parser of one file. */
typedef struct ParseState {
    AstCtx ast;
    Diag *diag;
    int errors;
    int32_t offset;        /* scanner position (byte offset) */
    int32_t prev_end;      /* end of the token before the lookahead */
    int32_t cur_end;       /* end of the last token returned */
    SrcLoc brackets[256];  /* open ( [ { not yet closed, innermost last */
    int n_brackets;
    SrcLoc popped;         /* the bracket the last closing token closed, if has_popped */
    bool has_popped;
    int lex_error_line;    /* line of the last lexical error (0 = none) */
    bool skip_syntax_error;/* the next syntax error is a lexical error's echo */
    Node *program;
} ParseState;

/* Parse `file`; returns the program (never NULL) and adds to *errors. */
Node *parse_file(Arena *a, Diag *d, const SourceFile *file, int *errors);

/* Scanner hooks used by the grammar (defined in parse.c). */
void parse_error(ParseState *ps, SrcLoc loc, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* KLC_PARSE_H */
