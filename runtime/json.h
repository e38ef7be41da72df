/*
 * json.h — a small, strict JSON reader (internal), enough for safetensors
 * headers.
 *
 * RFC 8259 JSON: objects, arrays, strings (escapes, \uXXXX with surrogate
 * pairs, UTF-8 validated), numbers, true, false, null.  Nothing outside
 * text[0..len) is read; nesting deeper than KLC_JSON_MAX_DEPTH is refused.
 * The parser keeps duplicate object keys (in order); callers decide.
 */
#ifndef KLC_JSON_H
#define KLC_JSON_H

#include <stddef.h>
#include <stdint.h>

#define KLC_JSON_MAX_DEPTH 64

typedef enum klc_json_kind {
    KLC_JSON_NULL = 0,
    KLC_JSON_FALSE,
    KLC_JSON_TRUE,
    KLC_JSON_NUMBER,
    KLC_JSON_STRING,
    KLC_JSON_ARRAY,
    KLC_JSON_OBJECT
} klc_json_kind;

typedef struct klc_json klc_json;
struct klc_json {
    klc_json_kind kind;
    size_t offset;       /* byte offset of the value in the text (for messages) */
    double number;       /* NUMBER */
    int is_int;          /* NUMBER written without fraction or exponent, fits int64 */
    int64_t integer;     /* NUMBER when is_int */
    char *str;           /* STRING: decoded UTF-8, NUL-terminated */
    size_t len;          /* STRING: bytes in str (a \u0000 escape makes len > strlen) */
    size_t n;            /* ARRAY, OBJECT: number of items */
    klc_json *items;     /* ARRAY, OBJECT: the n values */
    klc_json *keys;      /* OBJECT: n STRING values, keys[i] names items[i] */
};

/* Parse text[0..len) as one JSON value (surrounding whitespace allowed) into
 * *root.  On failure returns -1 with a message "byte N: <problem>" and
 * leaves *root empty; on success free it with klc_json_free. */
int klc_json_parse(klc_json *root, const char *text, size_t len);
void klc_json_free(klc_json *v);

/* First member of OBJECT `obj` named `key`, or NULL. */
const klc_json *klc_json_get(const klc_json *obj, const char *key);
/* "an object", "a string", ... for messages. */
const char *klc_json_kind_name(klc_json_kind kind);
/* Is s[0..n) well-formed UTF-8 (no overlongs, surrogates or values past U+10FFFF)? */
int klc_utf8_valid(const char *s, size_t n);

#endif /* KLC_JSON_H */
