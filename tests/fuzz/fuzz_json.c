/* fuzz_json.c — the JSON parser (klc_json_parse) on one text, and a walk
 * of what it built (kinds, lookups by key) so every node is touched. */
#include "fuzz.h"
#include "json.h"

static size_t walk(const klc_json *v, int depth)
{
    size_t n = 1;
    (void)klc_json_kind_name(v->kind);
    if (v->kind == KLC_JSON_STRING)
        n += (size_t)klc_utf8_valid(v->str, v->len);
    if (v->kind == KLC_JSON_ARRAY || v->kind == KLC_JSON_OBJECT)
        for (size_t i = 0; i < v->n; i++) {
            n += walk(&v->items[i], depth + 1);
            if (v->kind == KLC_JSON_OBJECT)
                n += klc_json_get(v, v->keys[i].str) != NULL;
        }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    klc_json root;
    if (klc_json_parse(&root, (const char *)data, size) == 0) {
        volatile size_t n = walk(&root, 0);
        (void)n;
        klc_json_free(&root);
    }
    return 0;
}
