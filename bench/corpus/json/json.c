/* A JSON tokenizer in the style of small embedded parsers: one pass over
 * the text into a caller's token array (type, start, end, children), no
 * allocation, strict about structure; plus an integer reader for values. */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

enum { JSON_OBJECT = 1, JSON_ARRAY = 2, JSON_STRING = 3, JSON_PRIMITIVE = 4 };
enum { JSON_ERROR_NOMEM = -1, JSON_ERROR_INVALID = -2, JSON_ERROR_PARTIAL = -3 };

typedef struct {
    int32_t type, start, end, size, parent;
} json_token;

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int parse_string(const uint8_t *s, int32_t n, int32_t *pos) {
    for (int32_t i = *pos + 1; i < n; i++) {
        uint8_t c = s[i];
        if (c == '"') {
            *pos = i;
            return 0;
        }
        if (c < 0x20) return JSON_ERROR_INVALID;
        if (c == '\\') {
            if (++i >= n) return JSON_ERROR_PARTIAL;
            c = s[i];
            if (c == 'u') {
                for (int k = 0; k < 4; k++) {
                    if (++i >= n) return JSON_ERROR_PARTIAL;
                    c = s[i];
                    if (!((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))) return JSON_ERROR_INVALID;
                }
            } else if (c != '"' && c != '\\' && c != '/' && c != 'b' && c != 'f' && c != 'n' && c != 'r' && c != 't') {
                return JSON_ERROR_INVALID;
            }
        }
    }
    return JSON_ERROR_PARTIAL;
}

/* Tokenizes s[0..n); returns the token count or a JSON_ERROR_*. */
EXPORT("json_parse") int32_t json_parse(const uint8_t *s, int32_t n, json_token *tokens, int32_t cap) {
    int32_t count = 0, parent = -1;
    int expect_value = 1;
    for (int32_t i = 0; i < n; i++) {
        uint8_t c = s[i];
        if (is_space(c) || c == ':') continue;
        if (c == ',') {
            if (parent < 0) return JSON_ERROR_INVALID;
            continue;
        }
        if (c == '}' || c == ']') {
            int32_t want = c == '}' ? JSON_OBJECT : JSON_ARRAY;
            if (parent < 0 || tokens[parent].type != want) return JSON_ERROR_INVALID;
            tokens[parent].end = i + 1;
            parent = tokens[parent].parent;
            continue;
        }
        if (!expect_value && parent < 0) return JSON_ERROR_INVALID;
        if (count >= cap) return JSON_ERROR_NOMEM;
        json_token *t = &tokens[count];
        t->start = i;
        t->size = 0;
        t->parent = parent;
        if (parent >= 0) tokens[parent].size++;
        if (c == '{' || c == '[') {
            t->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
            t->end = -1;
            parent = count;
        } else if (c == '"') {
            int err = parse_string(s, n, &i);
            if (err) return err;
            t->type = JSON_STRING;
            t->start++;
            t->end = i;
        } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
            int32_t j = i;
            while (j < n && !is_space(s[j]) && s[j] != ',' && s[j] != ']' && s[j] != '}' && s[j] != ':') {
                if (s[j] < 0x20 || s[j] >= 0x7f) return JSON_ERROR_INVALID;
                j++;
            }
            t->type = JSON_PRIMITIVE;
            t->end = j;
            i = j - 1;
        } else {
            return JSON_ERROR_INVALID;
        }
        count++;
        expect_value = 0;
    }
    for (int32_t k = 0; k < count; k++)
        if (tokens[k].end < 0) return JSON_ERROR_PARTIAL;
    return count;
}

/* The integer a primitive token holds (decimal, optional minus); 0 otherwise. */
EXPORT("json_int") int32_t json_int(const uint8_t *s, const json_token *t) {
    int32_t i = t->start, value = 0, negative = 0;
    if (t->type != JSON_PRIMITIVE) return 0;
    if (s[i] == '-') {
        negative = 1;
        i++;
    }
    for (; i < t->end && s[i] >= '0' && s[i] <= '9'; i++) value = value * 10 + (s[i] - '0');
    return negative ? -value : value;
}

/* Known answers. Document `doc`: what = 0 the token count; 1 the sum of
 * every integer value; 2 the size (children) of the root; 3 the index of the
 * token "rate"'s value times 1000 plus its integer. Documents 1-3 are broken
 * (partial, invalid, too many tokens for 4): what = 0 returns the error. */
static const char *const docs[] = {
    "{\"name\": \"pump-3\", \"rate\": 250, \"limits\": [-40, 85, 120],\n"
    " \"flags\": {\"on\": true, \"mode\": null, \"esc\": \"a\\\"b\\u00e9\"}, \"trim\": -7}",
    "{\"open\": [1, 2",
    "{\"bad\": @}",
    "[1, 2, 3, 4, 5]",
};
static json_token kat_tokens[32];

static int32_t length(const char *s) {
    int32_t n = 0;
    while (s[n]) n++;
    return n;
}

static int equals(const uint8_t *s, const json_token *t, const char *word) {
    int32_t i = 0;
    for (; word[i]; i++)
        if (t->start + i >= t->end || s[t->start + i] != (uint8_t)word[i]) return 0;
    return t->start + i == t->end;
}

EXPORT("json_kat") int32_t json_kat(uint32_t doc, uint32_t what) {
    const uint8_t *s = (const uint8_t *)docs[doc & 3];
    int32_t n = json_parse(s, length(docs[doc & 3]), kat_tokens, doc == 3 ? 4 : 32);
    if (what == 0 || n < 0) return n;
    if (what == 2) return kat_tokens[0].size;
    int32_t sum = 0;
    for (int32_t k = 0; k < n; k++) {
        if (what == 1) sum += json_int(s, &kat_tokens[k]);
        if (what == 3 && kat_tokens[k].type == JSON_STRING && equals(s, &kat_tokens[k], "rate"))
            return (k + 1) * 1000 + json_int(s, &kat_tokens[k + 1]);
    }
    return sum;
}
