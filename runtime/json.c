/*
 * json.c — strict recursive-descent JSON reader into a small tree.
 *
 *   value  -> object | array | string | number | true | false | null
 *   object -> '{' [ string ':' value { ',' string ':' value } ] '}'
 *   array  -> '[' [ value { ',' value } ] ']'
 *
 * Every read checks the position against the length first; recursion is
 * bounded by KLC_JSON_MAX_DEPTH.
 */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct parser {
    const char *s;
    size_t len, pos;
    int depth;
} parser;

static int fail(parser *p, const char *what)
{
    return klc_seterr("byte %zu: %s", p->pos, what);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int parse_value(parser *p, klc_json *v);

/* ----------------------------------------------------------------------------
 * Strings
 * ------------------------------------------------------------------------- */

int klc_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t extra;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < extra)
            return 0;
        for (size_t k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += extra + 1;
    }
    return 1;
}

static int hex4(parser *p, uint32_t *out)
{
    if (p->len - p->pos < 4)
        return fail(p, "truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->pos + (size_t)k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return fail(p, "invalid \\u escape (expected 4 hex digits)");
        v = v * 16 + (uint32_t)d;
    }
    p->pos += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* \uXXXX (p->pos just after the 'u'), joining a surrogate pair. */
static int unicode_escape(parser *p, uint32_t *cp)
{
    if (hex4(p, cp) != 0)
        return -1;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF)
        return fail(p, "unpaired low surrogate in \\u escape");
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        uint32_t lo;
        if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail(p, "unpaired high surrogate in \\u escape");
        p->pos += 2;
        if (hex4(p, &lo) != 0)
            return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail(p, "unpaired high surrogate in \\u escape");
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    return 0;
}

/* string -> '"' { char | escape } '"'   (p->pos at the opening quote) */
static int parse_string(parser *p, klc_json *v)
{
    v->kind = KLC_JSON_STRING;
    size_t start = ++p->pos;
    /* The decoded text is never longer than the raw text. */
    size_t end = start;
    while (end < p->len && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if (end >= p->len)
        return fail(p, "unterminated string");
    v->str = malloc(end - start + 1);
    if (!v->str)
        return fail(p, "out of memory");

    size_t n = 0;
    while (p->pos < end) {
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c < 0x20)
            return fail(p, "control character in string (must be escaped)");
        if (c != '\\') {
            v->str[n++] = (char)c;
            p->pos++;
            continue;
        }
        p->pos++; /* the escape character is before `end` by the scan above */
        char e = p->s[p->pos++];
        switch (e) {
        case '"': v->str[n++] = '"'; break;
        case '\\': v->str[n++] = '\\'; break;
        case '/': v->str[n++] = '/'; break;
        case 'b': v->str[n++] = '\b'; break;
        case 'f': v->str[n++] = '\f'; break;
        case 'n': v->str[n++] = '\n'; break;
        case 'r': v->str[n++] = '\r'; break;
        case 't': v->str[n++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            /* A \u escape (6 bytes, or 12 for a pair) decodes to at most
             * 3 (or 4) bytes, so the buffer stays large enough. */
            if (unicode_escape(p, &cp) != 0)
                return -1;
            if (p->pos > end)
                return fail(p, "unterminated string");
            n += put_utf8(v->str + n, cp);
            break;
        }
        default:
            p->pos--;
            return fail(p, "invalid escape in string");
        }
    }
    p->pos = end + 1;
    v->str[n] = '\0';
    v->len = n;
    if (!klc_utf8_valid(v->str, n)) {
        p->pos = start;
        return fail(p, "string is not valid UTF-8");
    }
    return 0;
}

/* ----------------------------------------------------------------------------
 * Numbers:  '-'? ('0' | [1-9][0-9]*) ('.' [0-9]+)? ([eE] [+-]? [0-9]+)?
 * ------------------------------------------------------------------------- */

static int is_digit(parser *p)
{
    return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

static int parse_number(parser *p, klc_json *v)
{
    v->kind = KLC_JSON_NUMBER;
    size_t start = p->pos;
    int neg = 0, integral = 1, overflow = 0;
    uint64_t mag = 0;
    if (p->s[p->pos] == '-') {
        neg = 1;
        p->pos++;
    }
    if (!is_digit(p))
        return fail(p, "invalid number");
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (is_digit(p))
            return fail(p, "invalid number (leading zero)");
    } else {
        while (is_digit(p)) {
            unsigned d = (unsigned)(p->s[p->pos++] - '0');
            if (mag > (UINT64_MAX - d) / 10)
                overflow = 1;
            else
                mag = mag * 10 + d;
        }
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        integral = 0;
        p->pos++;
        if (!is_digit(p))
            return fail(p, "invalid number (digits expected after '.')");
        while (is_digit(p))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        integral = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (!is_digit(p))
            return fail(p, "invalid number (digits expected in the exponent)");
        while (is_digit(p))
            p->pos++;
    }

    if (integral && !overflow && mag <= (uint64_t)INT64_MAX + neg) {
        v->is_int = 1;
        /* -(2^63) is formed without overflowing int64. */
        v->integer = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        v->number = (double)v->integer;
        return 0;
    }
    /* The text is validated, so strtod reads exactly it from a bounded copy. */
    size_t n = p->pos - start;
    char *copy = malloc(n + 1);
    if (!copy)
        return fail(p, "out of memory");
    memcpy(copy, p->s + start, n);
    copy[n] = '\0';
    v->number = strtod(copy, NULL);
    free(copy);
    return 0;
}

/* ----------------------------------------------------------------------------
 * Arrays and objects
 * ------------------------------------------------------------------------- */

/* Room for one more item in v->items (and v->keys for objects). */
static int grow(parser *p, klc_json *v, size_t *cap)
{
    if (v->n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / sizeof(klc_json))
        return fail(p, "out of memory");
    klc_json *items = realloc(v->items, ncap * sizeof *items);
    if (!items)
        return fail(p, "out of memory");
    v->items = items;
    if (v->kind == KLC_JSON_OBJECT) {
        klc_json *keys = realloc(v->keys, ncap * sizeof *keys);
        if (!keys)
            return fail(p, "out of memory");
        v->keys = keys;
    }
    *cap = ncap;
    return 0;
}

/* Items are counted in v->n as soon as they exist, so a failure part-way
 * leaves a tree that klc_json_free releases. */
static int parse_container(parser *p, klc_json *v, int is_object)
{
    char close = is_object ? '}' : ']';
    size_t cap = 0;
    v->kind = is_object ? KLC_JSON_OBJECT : KLC_JSON_ARRAY;
    if (++p->depth > KLC_JSON_MAX_DEPTH)
        return fail(p, "nesting too deep");
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return 0;
    }
    for (;;) {
        if (grow(p, v, &cap) != 0)
            return -1;
        klc_json *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (is_object) {
            klc_json *key = &v->keys[v->n];
            memset(key, 0, sizeof *key);
            v->n++;
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return fail(p, "expected a string key");
            key->offset = p->pos;
            if (parse_string(p, key) != 0)
                return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return fail(p, "expected ':' after an object key");
            p->pos++;
            skip_ws(p);
        } else {
            v->n++;
        }
        if (parse_value(p, item) != 0)
            return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            p->depth--;
            return 0;
        }
        return fail(p, is_object ? "expected ',' or '}' in object" : "expected ',' or ']' in array");
    }
}

static int parse_literal(parser *p, const char *word, klc_json_kind kind, klc_json *v)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "invalid literal");
    v->kind = kind;
    p->pos += n;
    return 0;
}

static int parse_value(parser *p, klc_json *v)
{
    v->offset = p->pos;
    if (p->pos >= p->len)
        return fail(p, "unexpected end of input");
    switch (p->s[p->pos]) {
    case '{': return parse_container(p, v, 1);
    case '[': return parse_container(p, v, 0);
    case '"': return parse_string(p, v);
    case 't': return parse_literal(p, "true", KLC_JSON_TRUE, v);
    case 'f': return parse_literal(p, "false", KLC_JSON_FALSE, v);
    case 'n': return parse_literal(p, "null", KLC_JSON_NULL, v);
    default:
        if (p->s[p->pos] == '-' || is_digit(p))
            return parse_number(p, v);
        return fail(p, "unexpected character");
    }
}

int klc_json_parse(klc_json *root, const char *text, size_t len)
{
    parser p = { text, len, 0, 0 };
    memset(root, 0, sizeof *root);
    skip_ws(&p);
    int rc = parse_value(&p, root);
    if (rc == 0) {
        skip_ws(&p);
        if (p.pos != len)
            rc = fail(&p, "unexpected data after the JSON value");
    }
    if (rc != 0)
        klc_json_free(root);
    return rc;
}

void klc_json_free(klc_json *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->items)
            klc_json_free(&v->items[i]);
        if (v->keys)
            klc_json_free(&v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    memset(v, 0, sizeof *v);
}

const klc_json *klc_json_get(const klc_json *obj, const char *key)
{
    if (obj->kind != KLC_JSON_OBJECT)
        return NULL;
    size_t n = strlen(key);
    for (size_t i = 0; i < obj->n; i++)
        if (obj->keys[i].len == n && memcmp(obj->keys[i].str, key, n) == 0)
            return &obj->items[i];
    return NULL;
}

const char *klc_json_kind_name(klc_json_kind kind)
{
    switch (kind) {
    case KLC_JSON_NULL: return "null";
    case KLC_JSON_FALSE:
    case KLC_JSON_TRUE: return "a boolean";
    case KLC_JSON_NUMBER: return "a number";
    case KLC_JSON_STRING: return "a string";
    case KLC_JSON_ARRAY: return "an array";
    case KLC_JSON_OBJECT: return "an object";
    }
    return "unknown";
}
