/*
 * eval.h — the compile-time evaluator: expressions and statements.
 *
 * eval() computes the value of an expression.  Compile-time values
 * (numbers, shapes, strings, functions, layers) are computed outright;
 * tensor expressions in call() bodies are elaborated into KIR maps in e->fn
 * with their shapes checked; inside index expressions (comp.h), expressions
 * become scalar bodies.
 *
 * The evaluator knows the language, not the library: a call of a builtin,
 * a layer class or a model method goes to the Native of the callee
 * (value.h), and the index-expression forms to the IndexForms of the
 * program (e->sema->index_forms); sema_run registers both.
 */
#ifndef KLC_CHECK_EVAL_H
#define KLC_CHECK_EVAL_H

#include "check/value.h"

/* The index-expression forms, evaluated by comp.h (which evaluates their
 * parts with eval()). */
struct IndexForms {
    Value *(*reduce)(Elab *e, Scope *s, const Node *n);         /* sum[i, j](body) */
    Value *(*read)(Elab *e, Scope *s, const Node *n);           /* x[i, j] of a tensor */
    Value *(*statement)(Elab *e, Scope *s, const Node *assign); /* y[i, j] (: shape) = value; */
};

Value *eval(Elab *e, Scope *s, const Node *n);
/* Run a block's statements, until a return (e->returned). */
void exec_block(Elab *e, Scope *s, const Node *block);
/* Call a function value (a def, or a value with a Native) on evaluated arguments. */
Value *call_value(Elab *e, Value *callee, Args *args, const Node *call);

/* Scalar builders of the operators, also those of keras.ops add, subtract,
 * multiply, divide (true division), power, negative and logical_not. */
Scalar *b_add(Arena *a, Scalar **o, const double *p);
Scalar *b_sub(Arena *a, Scalar **o, const double *p);
Scalar *b_mul(Arena *a, Scalar **o, const double *p);
Scalar *b_div(Arena *a, Scalar **o, const double *p);
Scalar *b_pow(Arena *a, Scalar **o, const double *p);
Scalar *b_neg(Arena *a, Scalar **o, const double *p);
Scalar *b_not(Arena *a, Scalar **o, const double *p);

#endif /* KLC_CHECK_EVAL_H */
