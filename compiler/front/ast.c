/* ast.c — syntax tree constructors (called from grammar/klc.y) and the dump. */
#include "front/ast.h"

#include <stdlib.h>
#include <string.h>

Node *ast_new(AstCtx *c, NodeKind kind, SrcLoc loc)
{
    Node *n = arena_alloc(c->arena, sizeof *n);
    n->kind = kind;
    n->loc = loc;
    n->depth = 1;
    return n;
}

/* depth = 1 + the deepest child, so passes can refuse absurd nesting before recursing. */
static Node *deepen(Node *n)
{
    int d = 0;
    const Node *kids[3] = {n->a, n->b, n->c};
    for (int i = 0; i < 3; i++)
        if (kids[i] && kids[i]->depth > d)
            d = kids[i]->depth;
    for (int i = 0; i < n->list.len; i++)
        if (n->list.items[i]->depth > d)
            d = n->list.items[i]->depth;
    for (int i = 0; i < n->list2.len; i++)
        if (n->list2.items[i]->depth > d)
            d = n->list2.items[i]->depth;
    n->depth = d + 1;
    return n;
}

NodeList ast_empty(void)
{
    return (NodeList){0};
}

NodeList ast_append(AstCtx *c, NodeList l, Node *n)
{
    if (!n)
        return l;
    if (l.len == l.cap) {
        int cap = l.cap ? l.cap * 2 : 4;
        Node **items = arena_alloc(c->arena, sizeof(Node *) * (size_t)cap);
        if (l.len)
            memcpy(items, l.items, sizeof(Node *) * (size_t)l.len);
        l.items = items;
        l.cap = cap;
    }
    l.items[l.len++] = n;
    return l;
}

NodeList ast_prepend(AstCtx *c, Node *n, NodeList l)
{
    NodeList r = ast_list1(c, n);
    for (int i = 0; i < l.len; i++)
        r = ast_append(c, r, l.items[i]);
    return r;
}

NodeList ast_list1(AstCtx *c, Node *n)
{
    return ast_append(c, ast_empty(), n);
}

Node *ast_int(AstCtx *c, SrcLoc loc, const char *text)
{
    Node *n = ast_new(c, N_INT, loc);
    n->name = arena_strdup(c->arena, text);
    n->ival = strtoll(text, NULL, 10); /* range checked by the scanner */
    return n;
}

Node *ast_float(AstCtx *c, SrcLoc loc, const char *text)
{
    Node *n = ast_new(c, N_FLOAT, loc);
    n->name = arena_strdup(c->arena, text);
    n->fval = strtod(text, NULL);
    return n;
}

Node *ast_str(AstCtx *c, SrcLoc loc, const char *value)
{
    Node *n = ast_new(c, N_STR, loc);
    n->name = value;
    return n;
}

Node *ast_bool(AstCtx *c, SrcLoc loc, bool value)
{
    Node *n = ast_new(c, N_BOOL, loc);
    n->bval = value;
    return n;
}

Node *ast_name(AstCtx *c, SrcLoc loc, const char *name)
{
    Node *n = ast_new(c, N_NAME, loc);
    n->name = name;
    return n;
}

Node *ast_unary(AstCtx *c, SrcLoc loc, int op, Node *a)
{
    Node *n = ast_new(c, N_UNARY, loc);
    n->op = op;
    n->a = a;
    return deepen(n);
}

Node *ast_binary(AstCtx *c, SrcLoc loc, int op, Node *a, Node *b)
{
    Node *n = ast_new(c, N_BINARY, loc);
    n->op = op;
    n->a = a;
    n->b = b;
    return deepen(n);
}

Node *ast_ternary(AstCtx *c, SrcLoc loc, Node *cond, Node *a, Node *b)
{
    Node *n = ast_new(c, N_TERNARY, loc);
    n->a = cond;
    n->b = a;
    n->c = b;
    return deepen(n);
}

Node *ast_call(AstCtx *c, SrcLoc loc, Node *callee, NodeList args)
{
    Node *n = ast_new(c, N_CALL, loc);
    n->a = callee;
    n->list = args;
    return deepen(n);
}

Node *ast_kwarg(AstCtx *c, SrcLoc loc, const char *name, Node *value)
{
    Node *n = ast_new(c, N_KWARG, loc);
    n->name = name;
    n->a = value;
    return deepen(n);
}

Node *ast_index(AstCtx *c, SrcLoc loc, Node *base, NodeList subs)
{
    Node *n = ast_new(c, N_INDEX, loc);
    n->a = base;
    n->list = subs;
    return deepen(n);
}

Node *ast_attr(AstCtx *c, SrcLoc loc, Node *base, const char *name)
{
    Node *n = ast_new(c, N_ATTR, loc);
    n->a = base;
    n->name = name;
    return deepen(n);
}

Node *ast_list(AstCtx *c, SrcLoc loc, NodeList items)
{
    Node *n = ast_new(c, N_LIST, loc);
    n->list = items;
    return deepen(n);
}

Node *ast_reduce(AstCtx *c, SrcLoc loc, const char *kind, NodeList binders, Node *body)
{
    Node *n = ast_new(c, N_REDUCE, loc);
    n->name = kind;
    n->list = binders;
    n->a = body;
    return deepen(n);
}

Node *ast_binder(AstCtx *c, SrcLoc loc, const char *name, Node *extent)
{
    Node *n = ast_new(c, N_BINDER, loc);
    n->name = name;
    n->a = extent;
    return deepen(n);
}

Node *ast_assign(AstCtx *c, SrcLoc loc, Node *target, Node *shape, Node *value)
{
    Node *n = ast_new(c, N_ASSIGN, loc);
    n->a = target;
    n->b = shape;
    n->c = value;
    return deepen(n);
}

Node *ast_if(AstCtx *c, SrcLoc loc, Node *cond, Node *then, Node *els)
{
    Node *n = ast_new(c, N_IF, loc);
    n->a = cond;
    n->b = then;
    n->c = els;
    return deepen(n);
}

Node *ast_return(AstCtx *c, SrcLoc loc, Node *value)
{
    Node *n = ast_new(c, N_RETURN, loc);
    n->a = value;
    return deepen(n);
}

Node *ast_expr_stmt(AstCtx *c, SrcLoc loc, Node *e)
{
    Node *n = ast_new(c, N_EXPR, loc);
    n->a = e;
    return deepen(n);
}

Node *ast_block(AstCtx *c, SrcLoc loc, NodeList stmts)
{
    Node *n = ast_new(c, N_BLOCK, loc);
    n->list = stmts;
    return deepen(n);
}

Node *ast_scan(AstCtx *c, SrcLoc loc, NodeList targets, NodeList clauses, Node *body, Node *yields)
{
    Node *n = ast_new(c, N_SCAN, loc);
    n->list = targets;
    n->list2 = clauses;
    n->a = body;
    n->b = yields;
    return deepen(n);
}

Node *ast_seq(AstCtx *c, SrcLoc loc, const char *name, Node *seq, Node *axis, Node *reverse)
{
    Node *n = ast_new(c, N_SEQ, loc);
    n->name = name;
    n->a = seq;
    n->b = axis;
    n->c = reverse;
    return deepen(n);
}

Node *ast_carry(AstCtx *c, SrcLoc loc, const char *name, Node *init)
{
    Node *n = ast_new(c, N_CARRY, loc);
    n->name = name;
    n->a = init;
    return deepen(n);
}

Node *ast_param(AstCtx *c, SrcLoc loc, const char *name, const char *type, Node *dflt)
{
    Node *n = ast_new(c, N_PARAM, loc);
    n->name = name;
    n->tname = type;
    n->a = dflt;
    return deepen(n);
}

Node *ast_pattern(AstCtx *c, SrcLoc loc, const char *name, NodeList dims, const char *dtype)
{
    Node *n = ast_new(c, N_PATTERN, loc);
    n->name = name;
    n->list = dims;
    n->tname = dtype;
    return n;
}

Node *ast_build(AstCtx *c, SrcLoc loc, NodeList patterns, Node *block)
{
    Node *n = ast_new(c, N_BUILD, loc);
    n->list = patterns;
    n->a = block;
    return deepen(n);
}

Node *ast_calldef(AstCtx *c, SrcLoc loc, NodeList params, Node *block)
{
    Node *n = ast_new(c, N_CALLDEF, loc);
    n->list = params;
    n->a = block;
    return deepen(n);
}

Node *ast_layer(AstCtx *c, SrcLoc loc, const char *name, NodeList params, NodeList members)
{
    Node *n = ast_new(c, N_LAYER, loc);
    n->name = name;
    n->list = params;
    n->list2 = members;
    return deepen(n);
}

Node *ast_def(AstCtx *c, SrcLoc loc, const char *name, NodeList params, Node *body)
{
    Node *n = ast_new(c, N_DEF, loc);
    n->name = name;
    n->list = params;
    n->a = body;
    return deepen(n);
}

Node *ast_import(AstCtx *c, SrcLoc loc, const char *path)
{
    Node *n = ast_new(c, N_IMPORT, loc);
    n->name = path;
    return n;
}

const char *ast_binop_text(int op)
{
    static const char *const text[] = {
        [OP_ADD] = "+",  [OP_SUB] = "-",  [OP_MUL] = "*",  [OP_DIV] = "/",  [OP_FLOORDIV] = "//", [OP_MOD] = "%",
        [OP_POW] = "**", [OP_MATMUL] = "@", [OP_EQ] = "==", [OP_NE] = "!=", [OP_LT] = "<",
        [OP_LE] = "<=",  [OP_GT] = ">",  [OP_GE] = ">=", [OP_AND] = "&&", [OP_OR] = "||",
    };
    if (op < 0 || op >= (int)(sizeof text / sizeof text[0]) || !text[op])
        return "?";
    return text[op];
}

/* ---- dump: one node per line, children indented; stable for golden tests ---- */

static const char *const kind_names[] = {
    [N_INT] = "Int",       [N_FLOAT] = "Float",     [N_STR] = "Str",        [N_BOOL] = "Bool",
    [N_NONE] = "None",     [N_NAME] = "Name",       [N_LIST] = "List",      [N_UNARY] = "Unary",
    [N_BINARY] = "Binary", [N_TERNARY] = "Ternary", [N_CALL] = "Call",      [N_KWARG] = "Kwarg",
    [N_INDEX] = "Index",   [N_ATTR] = "Attr",       [N_REDUCE] = "Reduce",  [N_BINDER] = "Binder",
    [N_ELLIPSIS] = "Ellipsis", [N_ASSIGN] = "Assign", [N_IF] = "If",      [N_RETURN] = "Return",
    [N_EXPR] = "ExprStmt", [N_BLOCK] = "Block",     [N_SCAN] = "Scan",      [N_SEQ] = "Seq",        [N_CARRY] = "Carry",     [N_PARAM] = "Param",    [N_PATTERN] = "Pattern",
    [N_BUILD] = "Build",   [N_CALLDEF] = "CallDef", [N_LAYER] = "Layer",    [N_DEF] = "Def",
    [N_IMPORT] = "Import", [N_PROGRAM] = "Program",
};

static void dump(FILE *out, const Node *n, int depth)
{
    if (depth > 200) {
        fprintf(out, "%*s...\n", depth * 2, "");
        return;
    }
    fprintf(out, "%*s", depth * 2, "");
    if (!n) {
        fputs("(null)\n", out);
        return;
    }
    int line = 0, col = 0;
    if (n->loc.file)
        source_line_col(n->loc.file, n->loc.start, &line, &col);
    fputs(kind_names[n->kind], out);
    switch (n->kind) {
    case N_INT: fprintf(out, " %lld", (long long)n->ival); break;
    case N_FLOAT: fprintf(out, " %s", n->name); break;
    case N_STR: fprintf(out, " \"%s\"", n->name); break;
    case N_BOOL: fputs(n->bval ? " true" : " false", out); break;
    case N_UNARY: fprintf(out, " %c", n->op); break;
    case N_BINARY: fprintf(out, " %s", ast_binop_text(n->op)); break;
    default:
        if (n->name)
            fprintf(out, " %s", n->name);
        break;
    }
    if (n->tname)
        fprintf(out, " : %s", n->tname);
    fprintf(out, " @%d:%d\n", line, col);
    if (n->a)
        dump(out, n->a, depth + 1);
    if (n->b)
        dump(out, n->b, depth + 1);
    if (n->c)
        dump(out, n->c, depth + 1);
    for (int i = 0; i < n->list.len; i++)
        dump(out, n->list.items[i], depth + 1);
    for (int i = 0; i < n->list2.len; i++)
        dump(out, n->list2.items[i], depth + 1);
}

void ast_dump(FILE *out, const Node *n)
{
    dump(out, n, 0);
}
