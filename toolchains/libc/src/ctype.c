/* wasmelt's freestanding libc: <ctype.h> in the "C" locale, by comparison;
 * weak, so a component's own definition wins. */
#include <ctype.h>

#define WEAK __attribute__((weak))

WEAK int isdigit(int c) { return (unsigned)c - '0' < 10; }
WEAK int islower(int c) { return (unsigned)c - 'a' < 26; }
WEAK int isupper(int c) { return (unsigned)c - 'A' < 26; }
WEAK int isalpha(int c) { return islower(c) || isupper(c); }
WEAK int isalnum(int c) { return isalpha(c) || isdigit(c); }
WEAK int isxdigit(int c) { return isdigit(c) || (unsigned)(c | 32) - 'a' < 6; }
WEAK int isblank(int c) { return c == ' ' || c == '\t'; }
WEAK int isspace(int c) { return c == ' ' || (unsigned)c - '\t' < 5; }
WEAK int iscntrl(int c) { return (unsigned)c < 32 || c == 127; }
WEAK int isprint(int c) { return (unsigned)c - ' ' < 95; }
WEAK int isgraph(int c) { return (unsigned)c - '!' < 94; }
WEAK int ispunct(int c) { return isgraph(c) && !isalnum(c); }
WEAK int tolower(int c) { return isupper(c) ? c | 32 : c; }
WEAK int toupper(int c) { return islower(c) ? c & ~32 : c; }
