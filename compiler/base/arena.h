/*
 * arena.h — bump allocation for everything a compilation creates.
 *
 * The compiler allocates its AST, values, IR and strings from one Arena and
 * frees them all at once at the end (chibicc, PostgreSQL's palloc): nodes are
 * never freed individually, so error recovery needs no cleanup.  Allocation
 * failure is an internal fault: the message names the size and the process
 * exits with status 2.
 */
#ifndef KLC_ARENA_H
#define KLC_ARENA_H

#include <stddef.h>

typedef struct Arena Arena;

Arena *arena_new(void);
void arena_free(Arena *a);
/* Zeroed, aligned to 16 bytes. */
void *arena_alloc(Arena *a, size_t size);
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
/* printf into the arena. */
char *arena_printf(Arena *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* A growable array of pointers on the arena (old storage is abandoned). */
typedef struct PtrVec {
    void **items;
    int len, cap;
} PtrVec;

void vec_push(Arena *a, PtrVec *v, void *item);

/* Internal faults: print file:line and the message, exit 2. */
#define KLC_ASSERT(cond)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            klc_internal_fault(__FILE__, __LINE__, "assertion failed: %s", #cond);       \
    } while (0)
#define KLC_UNREACHABLE() klc_internal_fault(__FILE__, __LINE__, "unreachable")

_Noreturn void klc_internal_fault(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

#endif /* KLC_ARENA_H */
