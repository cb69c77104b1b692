/* libFuzzer target for the TOML subset parser. Besides memory errors (ASan) and undefined
 * behaviour (UBSan), it checks the contract that callers rely on: a success gives a tree whose
 * strings are valid UTF-8 without NUL, whose table keys are unique, whose arrays of tables hold
 * only tables and other arrays only strings, and whose depth stays bounded; a failure gives an
 * error that starts with "fuzz.toml:" and a position (or the size limit), and no tree. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        size_t n = *s < 0x80 ? 1 : (*s & 0xE0) == 0xC0 ? 2 : (*s & 0xF0) == 0xE0 ? 3 : 4;
        if ((*s & 0xF8) == 0xF8 || (*s & 0xC0) == 0x80)
            return false;
        for (size_t i = 1; i < n; i++)
            if ((s[i] & 0xC0) != 0x80)
                return false;
        s += n;
    }
    return true;
}

/* Returns the number of nodes below n, n included. */
static size_t walk(const toml_node *n, unsigned depth)
{
    CHECK(n && depth <= 2 * TOML_MAX_DEPTH + 2);
    CHECK(n->line >= 1 && n->col >= 1);
    size_t count = 1;
    switch (n->type) {
    case TOML_STRING:
        CHECK(n->str && valid_utf8((const unsigned char *)n->str));
        break;
    case TOML_INTEGER:
    case TOML_BOOL:
        break;
    case TOML_ARRAY:
        CHECK(!n->keys);
        for (size_t i = 0; i < n->len; i++) {
            CHECK(n->items[i]->type == (n->is_table_array ? TOML_TABLE : TOML_STRING));
            count += walk(n->items[i], depth + 1);
        }
        CHECK(!n->is_table_array || n->len > 0);
        break;
    case TOML_TABLE:
        for (size_t i = 0; i < n->len; i++) {
            CHECK(n->keys[i] && valid_utf8((const unsigned char *)n->keys[i]));
            CHECK(toml_get(n, n->keys[i]) == n->items[i]); /* first match is the only one */
            count += walk(n->items[i], depth + 1);
        }
        break;
    default:
        CHECK(false);
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    toml_node *root = NULL;
    nc_error *err = NULL;
    int r = toml_parse((const char *)data, size, "fuzz.toml", &root, &err);
    if (r == 0) {
        CHECK(root && !err && root->type == TOML_TABLE);
        CHECK(walk(root, 0) <= TOML_MAX_VALUES + 1);
        toml_free(root);
    } else {
        CHECK(!root && err && err->msg);
        CHECK(strncmp(err->msg, "fuzz.toml:", 10) == 0);
        nc_error_free(err);
    }
    return 0;
}
