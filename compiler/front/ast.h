/*
 * ast.h — the syntax tree of a .kl program.
 *
 * One fat Node struct for every construct (chibicc style); the fields a kind
 * uses are listed beside it.  Nodes are built by the grammar's actions
 * through the ast_* constructors and never freed (they live in the Arena).
 * Every node carries the byte range of its source text.
 */
#ifndef KLC_AST_H
#define KLC_AST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/arena.h"
#include "base/source.h"

typedef enum NodeKind {
    /* expressions */
    N_INT,       /* ival */
    N_FLOAT,     /* fval; name = the literal's text */
    N_STR,       /* name = the string's value */
    N_BOOL,      /* bval */
    N_NONE,      /* None */
    N_NAME,      /* name */
    N_LIST,      /* list = elements: [a, b, c] */
    N_UNARY,     /* op ('-', '+', '!'), a */
    N_BINARY,    /* op (OP_*), a, b */
    N_TERNARY,   /* a ? b : c */
    N_CALL,      /* a = callee, list = arguments (N_KWARG for keyword arguments) */
    N_KWARG,     /* name = a */
    N_INDEX,     /* a[list] */
    N_ATTR,      /* a.name */
    N_REDUCE,    /* name = sum|mean|max|min, list = binders (N_BINDER), a = body: sum[i, j: 3](a) */
    N_BINDER,    /* name [: a] */
    N_ELLIPSIS,  /* ... in a shape pattern */
    /* statements */
    N_ASSIGN,    /* a = target (N_NAME or N_INDEX), b = declared shape or NULL, c = value */
    N_IF,        /* if a b [else c] (c is N_BLOCK or N_IF) */
    N_RETURN,    /* return a */
    N_EXPR,      /* a; */
    N_BLOCK,     /* { list } */
    N_SCAN,      /* list = targets (N_NAME), list2 = clauses (N_SEQ, N_CARRY), a = body (N_BLOCK), b = yields (N_LIST) or NULL */
    N_SEQ,       /* name in a [along b] [reverse c]  (a scan's sequence) */
    N_CARRY,     /* name = a  (a scan's carried state and its initial value) */
    /* declarations */
    N_PARAM,     /* name: tname [= a]  (layer hyperparameter) */
    N_PATTERN,   /* name: [list] [tname]  (build argument; list of N_NAME / N_INT / N_ELLIPSIS) */
    N_BUILD,     /* build(list of N_PATTERN) a = block */
    N_CALLDEF,   /* call(list of N_NAME) a = block */
    N_LAYER,     /* layer name(list of N_PARAM) { list2 = members (N_BUILD, N_CALLDEF) } */
    N_DEF,       /* def name(list of N_NAME) = a; */
    N_IMPORT,    /* import name; */
    N_PROGRAM    /* list = top-level items (declarations and statements) */
} NodeKind;

/* Binary operators (N_BINARY.op). */
typedef enum BinOp {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW, OP_MATMUL,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_AND, OP_OR
} BinOp;

typedef struct Node Node;

#define NODE_REPORTED 1 /* an error about this name was already reported */

typedef struct NodeList {
    Node **items;
    int len, cap;
} NodeList;

struct Node {
    NodeKind kind;
    SrcLoc loc;
    const char *name;
    const char *tname;   /* N_PARAM type, N_PATTERN dtype */
    int op;
    int64_t ival;
    double fval;
    bool bval;
    int depth;           /* nesting depth of the subtree (bounds recursion in later passes) */
    int flags;           /* set by the checker: NODE_REPORTED */
    Node *a, *b, *c;
    NodeList list;
    NodeList list2;
};

/* The parser's context: where nodes go and how locations are made. */
typedef struct AstCtx {
    Arena *arena;
    const SourceFile *file;
} AstCtx;

Node *ast_new(AstCtx *c, NodeKind kind, SrcLoc loc);
Node *ast_int(AstCtx *c, SrcLoc loc, const char *text);
Node *ast_float(AstCtx *c, SrcLoc loc, const char *text);
Node *ast_str(AstCtx *c, SrcLoc loc, const char *value);
Node *ast_bool(AstCtx *c, SrcLoc loc, bool value);
Node *ast_name(AstCtx *c, SrcLoc loc, const char *name);
Node *ast_unary(AstCtx *c, SrcLoc loc, int op, Node *a);
Node *ast_binary(AstCtx *c, SrcLoc loc, int op, Node *a, Node *b);
Node *ast_ternary(AstCtx *c, SrcLoc loc, Node *cond, Node *a, Node *b);
Node *ast_call(AstCtx *c, SrcLoc loc, Node *callee, NodeList args);
Node *ast_kwarg(AstCtx *c, SrcLoc loc, const char *name, Node *value);
Node *ast_index(AstCtx *c, SrcLoc loc, Node *base, NodeList subs);
Node *ast_attr(AstCtx *c, SrcLoc loc, Node *base, const char *name);
Node *ast_list(AstCtx *c, SrcLoc loc, NodeList items);
Node *ast_reduce(AstCtx *c, SrcLoc loc, const char *kind, NodeList binders, Node *body);
Node *ast_binder(AstCtx *c, SrcLoc loc, const char *name, Node *extent);
Node *ast_assign(AstCtx *c, SrcLoc loc, Node *target, Node *shape, Node *value);
Node *ast_if(AstCtx *c, SrcLoc loc, Node *cond, Node *then, Node *els);
Node *ast_return(AstCtx *c, SrcLoc loc, Node *value);
Node *ast_expr_stmt(AstCtx *c, SrcLoc loc, Node *e);
Node *ast_block(AstCtx *c, SrcLoc loc, NodeList stmts);
Node *ast_scan(AstCtx *c, SrcLoc loc, NodeList targets, NodeList clauses, Node *body, Node *yields);
Node *ast_seq(AstCtx *c, SrcLoc loc, const char *name, Node *seq, Node *axis, Node *reverse);
Node *ast_carry(AstCtx *c, SrcLoc loc, const char *name, Node *init);
Node *ast_param(AstCtx *c, SrcLoc loc, const char *name, const char *type, Node *dflt);
Node *ast_pattern(AstCtx *c, SrcLoc loc, const char *name, NodeList dims, const char *dtype);
Node *ast_build(AstCtx *c, SrcLoc loc, NodeList patterns, Node *block);
Node *ast_calldef(AstCtx *c, SrcLoc loc, NodeList params, Node *block);
Node *ast_layer(AstCtx *c, SrcLoc loc, const char *name, NodeList params, NodeList members);
Node *ast_def(AstCtx *c, SrcLoc loc, const char *name, NodeList params, Node *body);
Node *ast_import(AstCtx *c, SrcLoc loc, const char *path);

/* Lists (left-recursive grammar rules append). */
NodeList ast_list1(AstCtx *c, Node *n);
NodeList ast_append(AstCtx *c, NodeList l, Node *n);
/* n, then the elements of l (Python tuples: (a, b, c) and (a,)). */
NodeList ast_prepend(AstCtx *c, Node *n, NodeList l);
NodeList ast_empty(void);

const char *ast_binop_text(int op);  /* "+", "@", "==", ... */
/* Deterministic dump of the tree, for --dump-ast and tests. */
void ast_dump(FILE *out, const Node *n);

#endif /* KLC_AST_H */
