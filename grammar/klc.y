/*
 * klc.y — the Bison grammar of the .kl language.
 *
 * Syntax only: every action is one call to an ast_* constructor (compiler/
 * ast.h) with the rule's location; names, types and shapes are checked later
 * (compiler/sema.c).  CAPITALS are terminals, lower case non-terminals;
 * lists are left-recursive; opt_ rules have an empty alternative.
 *
 * Error recovery: a broken statement resynchronises at its ';' (or the '}'
 * closing its block), a broken top-level item at the next ';' or '}', so
 * independent syntax errors are all reported in one run.  Messages are built
 * by yyreport_syntax_error below from Bison's expected-token sets (with LAC,
 * so the sets are exact).
 */
%require "3.6"
%define api.pure full
%define api.prefix {kly}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {void *scanner}
%parse-param {ParseState *ps}

%code requires {
#include "front/ast.h"
#include "front/parse.h"
#define KLYLTYPE SrcLoc
#define KLYLTYPE_IS_DECLARED 1
}

%code provides {
/* Flex's bison-bridge interface expects the unprefixed type names. */
#define YYSTYPE KLYSTYPE
#define YYLTYPE KLYLTYPE
int klylex(KLYSTYPE *lval, KLYLTYPE *lloc, void *scanner);
}

%code {
#include <string.h>

#define C (&ps->ast)
/* Locations span from the first to the last symbol of a rule; an empty rule
 * sits at the end of the symbol before it. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                  \
    do {                                                             \
        if (N) {                                                     \
            (Cur).file = YYRHSLOC(Rhs, 1).file;                      \
            (Cur).start = YYRHSLOC(Rhs, 1).start;                    \
            (Cur).end = YYRHSLOC(Rhs, N).end;                        \
        } else {                                                     \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                      \
            (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;          \
        }                                                            \
    } while (0)
/* Bounded stack: absurdly deep nesting is an error, not a crash. */
#define YYMAXDEPTH 3000

static void klyerror(KLYLTYPE *loc, void *scanner, ParseState *ps, const char *msg);
}

%union {
    Node *node;
    NodeList list;
    const char *str;
}

%token <str> IDENT "identifier"
%token <str> INT "integer"
%token <str> FLOAT "number"
%token <str> STRING "string"
%token <str> REDUCE "reduction"
%token LAYER "'layer'" BUILD "'build'" CALL "'call'" RETURN "'return'"
%token IF "'if'" ELSE "'else'" IMPORT "'import'" DEF "'def'"
%token TRUE "'true'" FALSE "'false'" NONE "'None'"
%token POW "'**'" FLOORDIV "'//'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='" AND "'&&'" OR "'||'"
%token ELLIPSIS "'...'"
%token SCAN "'scan'" IN "'in'" ALONG "'along'" REVERSE "'reverse'" YIELD "'yield'"

%right '?' ':'
%left OR
%left AND
%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' FLOORDIV '%' '@'
%precedence UNARY
%right POW

%type <node> item import layer member def pattern dim param
%type <node> block stmt if_stmt expr postfix primary arg binder name scan_stmt scan_clause opt_yield opt_along opt_reverse
%type <list> items opt_params params members opt_patterns patterns dims
%type <list> stmts opt_args args opt_exprs exprs binders opt_names names scan_clauses

%%

program:
    items                               { ps->program = ast_new(C, N_PROGRAM, @$); ps->program->list = $1; }
    ;

items:
    %empty                              { $$ = ast_empty(); }
  | items item                          { $$ = ast_append(C, $1, $2); }
  ;

item:
    import
  | layer
  | def
  | stmt
  | error '}'                           { $$ = NULL; }
  ;

/* ---- declarations ---- */

import:
    IMPORT STRING ';'                   { $$ = ast_import(C, @$, $2); }
  ;

layer:
    LAYER IDENT '(' opt_params ')' '{' members '}'
                                        { $$ = ast_layer(C, @$, $2, $4, $7); }
  ;

opt_params:
    %empty                              { $$ = ast_empty(); }
  | params                              { $$ = $1; }
  | params ','                          { $$ = $1; }
  ;

params:
    param                               { $$ = ast_list1(C, $1); }
  | params ',' param                    { $$ = ast_append(C, $1, $3); }
  ;

param:
    IDENT ':' IDENT                     { $$ = ast_param(C, @$, $1, $3, NULL); }
  | IDENT ':' IDENT '=' expr            { $$ = ast_param(C, @$, $1, $3, $5); }
  ;

members:
    %empty                              { $$ = ast_empty(); }
  | members member                      { $$ = ast_append(C, $1, $2); }
  ;

member:
    BUILD '(' opt_patterns ')' block    { $$ = ast_build(C, @$, $3, $5); }
  | CALL '(' opt_names ')' block        { $$ = ast_calldef(C, @$, $3, $5); }
  | CALL '(' opt_names ')' '=' expr ';' { $$ = ast_calldef(C, @$, $3,
                                              ast_block(C, @6, ast_list1(C, ast_return(C, @6, $6)))); }
  | error ';'                           { $$ = NULL; }
  | error '}'                           { $$ = NULL; }
  ;

opt_patterns:
    %empty                              { $$ = ast_empty(); }
  | patterns                            { $$ = $1; }
  ;

patterns:
    pattern                             { $$ = ast_list1(C, $1); }
  | patterns ',' pattern                { $$ = ast_append(C, $1, $3); }
  ;

pattern:
    IDENT                               { $$ = ast_pattern(C, @$, $1, ast_empty(), NULL); }
  | IDENT ':' '[' dims ']'              { $$ = ast_pattern(C, @$, $1, $4, NULL); }
  | IDENT ':' '[' dims ']' IDENT        { $$ = ast_pattern(C, @$, $1, $4, $6); }
  ;

dims:
    dim                                 { $$ = ast_list1(C, $1); }
  | dims ',' dim                        { $$ = ast_append(C, $1, $3); }
  ;

dim:
    IDENT                               { $$ = ast_name(C, @$, $1); }
  | INT                                 { $$ = ast_int(C, @$, $1); }
  | ELLIPSIS                            { $$ = ast_new(C, N_ELLIPSIS, @$); }
  ;

def:
    DEF IDENT '(' opt_names ')' '=' expr ';'
                                        { $$ = ast_def(C, @$, $2, $4, $7); }
  ;

opt_names:
    %empty                              { $$ = ast_empty(); }
  | names                               { $$ = $1; }
  ;

names:
    name                                { $$ = ast_list1(C, $1); }
  | names ',' name                      { $$ = ast_append(C, $1, $3); }
  ;

name:
    IDENT                               { $$ = ast_name(C, @$, $1); }
  ;

/* ---- statements ---- */

block:
    '{' stmts '}'                       { $$ = ast_block(C, @$, $2); }
  | '{' stmts error '}'                 { $$ = ast_block(C, @$, $2); } /* e.g. { return x } */
  ;

stmts:
    %empty                              { $$ = ast_empty(); }
  | stmts stmt                          { $$ = ast_append(C, $1, $2); }
  ;

stmt:
    postfix '=' expr ';'                { $$ = ast_assign(C, @$, $1, NULL, $3); }
  | postfix ':' expr '=' expr ';'       { $$ = ast_assign(C, @$, $1, $3, $5); }
  | if_stmt
  | scan_stmt
  | RETURN expr ';'                     { $$ = ast_return(C, @$, $2); }
  | expr ';'                            { $$ = ast_expr_stmt(C, @$, $1); }
  | error ';'                           { $$ = NULL; }
  ;

if_stmt:
    IF expr block                       { $$ = ast_if(C, @$, $2, $3, NULL); }
  | IF expr block ELSE block            { $$ = ast_if(C, @$, $2, $3, $5); }
  | IF expr block ELSE if_stmt          { $$ = ast_if(C, @$, $2, $3, $5); }
  ;

/* A scan (a loop over an axis with carried state): the targets get the
 * stacked per-step outputs (yield), then the final carried states. */
scan_stmt:
    postfix '=' SCAN '(' scan_clauses ')' block opt_yield ';'
                                        { $$ = ast_scan(C, @$, ast_list1(C, $1), $5, $7, $8); }
  | IDENT ',' names '=' SCAN '(' scan_clauses ')' block opt_yield ';'
                                        { $$ = ast_scan(C, @$, ast_prepend(C, ast_name(C, @1, $1), $3), $7, $9, $10); }
  ;

scan_clauses:
    scan_clause                         { $$ = ast_list1(C, $1); }
  | scan_clauses ',' scan_clause        { $$ = ast_append(C, $1, $3); }
  ;

scan_clause:
    IDENT IN expr opt_along opt_reverse { $$ = ast_seq(C, @$, $1, $3, $4, $5); }
  | IDENT '=' expr                      { $$ = ast_carry(C, @$, $1, $3); }
  ;

opt_along:
    %empty                              { $$ = NULL; }
  | ALONG expr                          { $$ = $2; }
  ;

opt_reverse:
    %empty                              { $$ = NULL; }
  | REVERSE expr                        { $$ = $2; }
  ;

opt_yield:
    %empty                              { $$ = NULL; }
  | YIELD exprs                         { $$ = ast_list(C, @$, $2); }
  ;

/* ---- expressions ---- */

expr:
    postfix
  | expr '?' expr ':' expr              { $$ = ast_ternary(C, @$, $1, $3, $5); }
  | expr OR expr                        { $$ = ast_binary(C, @$, OP_OR, $1, $3); }
  | expr AND expr                       { $$ = ast_binary(C, @$, OP_AND, $1, $3); }
  | expr EQ expr                        { $$ = ast_binary(C, @$, OP_EQ, $1, $3); }
  | expr NE expr                        { $$ = ast_binary(C, @$, OP_NE, $1, $3); }
  | expr '<' expr                       { $$ = ast_binary(C, @$, OP_LT, $1, $3); }
  | expr LE expr                        { $$ = ast_binary(C, @$, OP_LE, $1, $3); }
  | expr '>' expr                       { $$ = ast_binary(C, @$, OP_GT, $1, $3); }
  | expr GE expr                        { $$ = ast_binary(C, @$, OP_GE, $1, $3); }
  | expr '+' expr                       { $$ = ast_binary(C, @$, OP_ADD, $1, $3); }
  | expr '-' expr                       { $$ = ast_binary(C, @$, OP_SUB, $1, $3); }
  | expr '*' expr                       { $$ = ast_binary(C, @$, OP_MUL, $1, $3); }
  | expr '/' expr                       { $$ = ast_binary(C, @$, OP_DIV, $1, $3); }
  | expr FLOORDIV expr                  { $$ = ast_binary(C, @$, OP_FLOORDIV, $1, $3); }
  | expr '%' expr                       { $$ = ast_binary(C, @$, OP_MOD, $1, $3); }
  | expr '@' expr                       { $$ = ast_binary(C, @$, OP_MATMUL, $1, $3); }
  | expr POW expr                       { $$ = ast_binary(C, @$, OP_POW, $1, $3); }
  | '-' expr %prec UNARY                { $$ = ast_unary(C, @$, '-', $2); }
  | '+' expr %prec UNARY                { $$ = ast_unary(C, @$, '+', $2); }
  | '!' expr %prec UNARY                { $$ = ast_unary(C, @$, '!', $2); }
  ;

postfix:
    primary
  | postfix '(' opt_args ')'            { $$ = ast_call(C, @$, $1, $3); }
  | postfix '[' exprs ']'               { $$ = ast_index(C, @$, $1, $3); }
  | postfix '.' IDENT                   { $$ = ast_attr(C, @$, $1, $3); }
  ;

primary:
    INT                                 { $$ = ast_int(C, @$, $1); }
  | FLOAT                               { $$ = ast_float(C, @$, $1); }
  | STRING                              { $$ = ast_str(C, @$, $1); }
  | TRUE                                { $$ = ast_bool(C, @$, true); }
  | FALSE                               { $$ = ast_bool(C, @$, false); }
  | NONE                                { $$ = ast_new(C, N_NONE, @$); }
  | IDENT                               { $$ = ast_name(C, @$, $1); }
  | '(' expr ')'                        { $$ = $2; }
  | '(' ')'                             { $$ = ast_list(C, @$, ast_empty()); }
  | '(' expr ',' opt_exprs ')'          { $$ = ast_list(C, @$, ast_prepend(C, $2, $4)); }
  | '[' opt_exprs ']'                   { $$ = ast_list(C, @$, $2); }
  | REDUCE '(' opt_args ')'             { $$ = ast_call(C, @$, ast_name(C, @1, $1), $3); }
  | REDUCE '[' binders ']' '(' expr ')' { $$ = ast_reduce(C, @$, $1, $3, $6); }
  ;

opt_args:
    %empty                              { $$ = ast_empty(); }
  | args                                { $$ = $1; }
  | args ','                            { $$ = $1; }
  ;

args:
    arg                                 { $$ = ast_list1(C, $1); }
  | args ',' arg                        { $$ = ast_append(C, $1, $3); }
  ;

arg:
    expr
  | IDENT '=' expr                      { $$ = ast_kwarg(C, @$, $1, $3); }
  ;

opt_exprs:
    %empty                              { $$ = ast_empty(); }
  | exprs                               { $$ = $1; }
  | exprs ','                           { $$ = $1; }
  ;

exprs:
    expr                                { $$ = ast_list1(C, $1); }
  | exprs ',' expr                      { $$ = ast_append(C, $1, $3); }
  ;

binders:
    binder                              { $$ = ast_list1(C, $1); }
  | binders ',' binder                  { $$ = ast_append(C, $1, $3); }
  ;

binder:
    IDENT                               { $$ = ast_binder(C, @$, $1, NULL); }
  | IDENT ':' expr                      { $$ = ast_binder(C, @$, $1, $3); }
  ;

%%

/* How a token is named in a message: keywords and operators quoted, a
 * literal or identifier with its text. */
static void describe(yysymbol_kind_t sym, const KLYLTYPE *loc, char *buf, size_t size)
{
    const char *name = yysymbol_name(sym);
    if (sym == YYSYMBOL_YYEOF) {
        snprintf(buf, size, "end of file");
        return;
    }
    if ((sym == YYSYMBOL_IDENT || sym == YYSYMBOL_INT || sym == YYSYMBOL_FLOAT ||
         sym == YYSYMBOL_REDUCE) && loc && loc->file) {
        int len = (int)(loc->end - loc->start);
        if (len > 40)
            len = 40;
        snprintf(buf, size, "%s '%.*s'", sym == YYSYMBOL_REDUCE ? "keyword" : name, len,
                 loc->file->text + loc->start);
        return;
    }
    if (sym == YYSYMBOL_STRING) {
        snprintf(buf, size, "string");
        return;
    }
    snprintf(buf, size, "%s", name);
}

/* ')' for the token ')', and so on; 0 for other tokens. */
static char closer_of(yysymbol_kind_t sym)
{
    const char *name = yysymbol_name(sym);
    if (name[0] == '\'' && name[1] && name[2] == '\'' && !name[3] && strchr(")]}", name[1]))
        return name[1];
    return 0;
}

static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, ParseState *ps)
{
    (void)scanner;
    yysymbol_kind_t expected[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, expected, YYNTOKENS);
    yysymbol_kind_t look = yypcontext_token(ctx);
    const KLYLTYPE *loc = yypcontext_location(ctx);

    /* An unterminated string swallowed the rest of its line: what breaks next is its echo. */
    if (ps->skip_syntax_error) {
        ps->skip_syntax_error = false;
        return 0;
    }

    /* A stray character was already reported on this line: the syntax error
     * it causes is a follow-on, not news. */
    if (ps->lex_error_line && loc->file && source_line(loc->file, loc->start) == ps->lex_error_line)
        return 0;

    bool wants_semicolon = false;
    for (int i = 0; i < n; i++)
        if (strcmp(yysymbol_name(expected[i]), "';'") == 0)
            wants_semicolon = true;

    /* A statement missing its ';' at the end of a line: point after the line's last token. */
    if (wants_semicolon && look != YYSYMBOL_YYEOF && ps->prev_end > 0 && loc->file) {
        if (source_line(loc->file, loc->start) > source_line(loc->file, ps->prev_end)) {
            SrcLoc at = {loc->file, ps->prev_end, ps->prev_end + 1};
            parse_error(ps, at, "expected ';' at the end of the statement");
            return 0;
        }
    }

    /* A closing bracket with nothing open. */
    if (closer_of(look) && !ps->has_popped) {
        parse_error(ps, *loc, "syntax error: unmatched '%c'", closer_of(look));
        return 0;
    }

    char got[96];
    describe(look, loc, got, sizeof got);
    char msg[512];
    int len = snprintf(msg, sizeof msg, "syntax error: unexpected %s", got);

    /* Say what could come instead: "an expression" for the many tokens that
     * start one, then the punctuation that separates or closes constructs. */
    bool wants_expr = false;
    const char *items[YYNTOKENS + 1];
    int n_items = 0;
    for (int i = 0; i < n; i++)
        if (expected[i] == YYSYMBOL_IDENT || expected[i] == YYSYMBOL_INT)
            wants_expr = true;
    if (wants_expr)
        items[n_items++] = "an expression";
    for (int i = 0; i < n; i++) {
        const char *name = yysymbol_name(expected[i]);
        static const char *const closers[] = {"','", "')'", "']'", "'}'", "';'", "':'", "'='", "'{'"};
        bool listed = !wants_expr && n <= 4;
        for (size_t k = 0; k < sizeof closers / sizeof closers[0]; k++)
            if (strcmp(name, closers[k]) == 0)
                listed = true;
        if (listed && !(wants_expr && (expected[i] == YYSYMBOL_IDENT || expected[i] == YYSYMBOL_INT)))
            items[n_items++] = name;
    }
    if (n_items > 0 && n_items <= 4) {
        len += snprintf(msg + len, sizeof msg - (size_t)len, ", expected ");
        for (int i = 0; i < n_items && len < (int)sizeof msg; i++) {
            const char *sep = i == 0 ? "" : i == n_items - 1 ? " or " : ", ";
            len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%s", sep, items[i]);
        }
    }
    parse_error(ps, *loc, "%s", msg);

    /* The bracket left open: the one a closing lookahead just closed (a mismatch), else the
     * innermost open one.  Noted when its closer was expected and the brackets look
     * unbalanced: at the end of the file or a statement, at a wrong closer, or lines away. */
    SrcLoc open = {0};
    if (closer_of(look))
        open = ps->popped;
    else if (ps->n_brackets > 0 && ps->n_brackets <= (int)(sizeof ps->brackets / sizeof ps->brackets[0]))
        open = ps->brackets[ps->n_brackets - 1];
    if (open.file) {
        char o = open.file->text[open.start];
        char want = o == '(' ? ')' : o == '[' ? ']' : '}';
        bool expected_it = false;
        for (int i = 0; i < n; i++)
            expected_it = expected_it || closer_of(expected[i]) == want;
        int lo = source_line(open.file, open.start), ll = loc->file ? source_line(loc->file, loc->start) : 0;
        /* (a brace spans lines by nature: being lines away says nothing about it) */
        bool unbalanced = look == YYSYMBOL_YYEOF || closer_of(look) ||
                          strcmp(yysymbol_name(look), "';'") == 0 || (ll != lo && o != '{');
        if (look == YYSYMBOL_YYEOF || (expected_it && unbalanced))
            diag_note(ps->diag, open, "to match this '%c'", o);
    }
    return 0;
}

static void klyerror(KLYLTYPE *loc, void *scanner, ParseState *ps, const char *msg)
{
    (void)scanner;
    if (strstr(msg, "exhausted"))
        parse_error(ps, *loc, "program nested too deeply");
    else
        parse_error(ps, *loc, "%s", msg);
}
