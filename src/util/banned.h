/* Functions that are easy to misuse with outside input. Every .c file in src/ includes this
 * header after all others (system headers declare these names), so a use fails to compile.
 * `make check-banned` greps for the same names and for a missing include. */
#ifndef NC_UTIL_BANNED_H
#define NC_UTIL_BANNED_H

#define NC_BANNED(func) sorry_##func##_is_banned_in_nanocell

#undef sprintf
#define sprintf(...) NC_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) NC_BANNED(vsprintf)
#undef strcpy
#define strcpy(...) NC_BANNED(strcpy)
#undef strcat
#define strcat(...) NC_BANNED(strcat)
#undef strncpy
#define strncpy(...) NC_BANNED(strncpy)
#undef strncat
#define strncat(...) NC_BANNED(strncat)
#undef strtok
#define strtok(...) NC_BANNED(strtok)
#undef gets
#define gets(...) NC_BANNED(gets)
#undef atoi
#define atoi(...) NC_BANNED(atoi)
#undef system
#define system(...) NC_BANNED(system)
#undef popen
#define popen(...) NC_BANNED(popen)

#endif
