/*
 * sema.h — checking a .kl program.
 *
 * sema_run reads the prelude (klc's built-in layers, written in .kl), the
 * main file and its imports, checks every declaration, runs the top-level
 * statements (models, compile, fit), instantiates each model's layers with
 * the shapes that reach them, and returns the models with their forward
 * functions in KIR.  Every problem is a located diagnostic.
 *
 * sema_finish_model is checking's last step for one model: the output and,
 * for a compiled model, the loss of both functions.  The driver calls it
 * for each model in order, and differentiates each model right after it
 * (opt/pipeline.h), so each model's diagnostics come together.  The result
 * is only meaningful when no error was reported.
 */
#ifndef KLC_SEMA_H
#define KLC_SEMA_H

#include "base/diag.h"
#include "ir/program.h"

Program *sema_run(Arena *a, Diag *d, const char *path, int *errors);
/* Same for a program held in memory (tests). */
Program *sema_run_source(Arena *a, Diag *d, const char *path, const char *text, size_t len, int *errors);
/* The text of the prelude's file i (0, 1, ...; NULL past the last), e.g. for
 * klc import to see the built-in layers' parameters. */
const char *sema_prelude_text(int i, size_t *len);
/* Returns false if the model cannot be used further (it failed to check). */
bool sema_finish_model(Arena *a, Diag *d, Model *m);

#endif /* KLC_SEMA_H */
