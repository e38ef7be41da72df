/*
 * comp.h — index expressions: comprehensions and explicit reductions
 * (comp.c's header comment has the rules).  The evaluator reaches these
 * through the IndexForms sema_run registers (eval.h); comp evaluates their
 * parts with eval().
 */
#ifndef KLC_CHECK_COMP_H
#define KLC_CHECK_COMP_H

#include "check/value.h"

/* `target[i, j] (: shape) = value;` inside call(). */
Value *comp_statement(Elab *e, Scope *s, const Node *assign);
/* `sum[i, j](body)` anywhere. */
Value *comp_reduce(Elab *e, Scope *s, const Node *n);
/* A subscripted tensor read inside an index expression. */
Value *comp_read(Elab *e, Scope *s, const Node *n);
/* The reduction a name stands for: sum, mean, max, min. */
RedOp red_of(const char *name);

#endif /* KLC_CHECK_COMP_H */
