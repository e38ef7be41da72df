/*
 * sema.h — checking a .kl program.
 *
 * sema_run reads the prelude (klc's built-in layers, written in .kl), the
 * main file and its imports, checks every declaration, runs the top-level
 * statements (models, compile, fit), instantiates each model's layers with
 * the shapes that reach them, and returns the models with their forward
 * and loss functions in KIR.  Every problem is a located diagnostic; the
 * result is only meaningful when *errors is 0.
 */
#ifndef KLC_SEMA_H
#define KLC_SEMA_H

#include "base/diag.h"
#include "ir/program.h"

/* Called on each model right after its loss is built, when no error was
 * reported so far (the driver derives the gradients there, so that --check
 * reports weights without one); it may report diagnostics.  May be NULL. */
typedef int (*ModelFinisher)(Model *m, Diag *d);

Program *sema_run(Arena *a, Diag *d, const char *path, ModelFinisher finish, int *errors);
/* Same for a program held in memory (tests). */
Program *sema_run_source(Arena *a, Diag *d, const char *path, const char *text, size_t len, ModelFinisher finish,
                         int *errors);

#endif /* KLC_SEMA_H */
