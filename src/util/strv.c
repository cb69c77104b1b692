#include "util/strv.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void strv_push_take(char ***v, char *s)
{
    size_t n = strv_len(*v);
    *v = xreallocarray(*v, n + 2, sizeof(char *));
    (*v)[n] = s;
    (*v)[n + 1] = NULL;
}

void strv_push(char ***v, const char *s)
{
    strv_push_take(v, xstrdup(s));
}

bool strv_contains(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

char **strv_dup(char *const *v)
{
    char **out = NULL;
    for (size_t i = 0; v && v[i]; i++)
        strv_push(&out, v[i]);
    return out;
}

void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

bool strv_equal(char *const *a, char *const *b)
{
    size_t n = strv_len(a);
    if (n != strv_len(b))
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}
