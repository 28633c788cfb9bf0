/*
 * json_read: a recursive-descent JSON reader (RFC 8259) into the fixed
 * arrays of a document (see hs_json_read.h).  Strings are unescaped into
 * the document's text, \uXXXX included (as UTF-8; surrogate pairs joined).
 */
#include "hs_json_read.h"

#include <stdlib.h>
#include <string.h>

struct reader {
	struct hs_json_doc *doc;
	const char *p, *end;
	int depth;
};

static void skip_space(struct reader *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int new_node(struct reader *r, enum hs_json_type type)
{
	if (r->doc->count == HS_JSON_MAX_NODES)
		return -1;
	struct hs_json_node *n = &r->doc->nodes[r->doc->count];
	memset(n, 0, sizeof(*n));
	n->type = (uint8_t)type;
	return (int)r->doc->count++;
}

static bool put_char(struct reader *r, char c)
{
	if (r->doc->used == sizeof(r->doc->text))
		return false;
	r->doc->text[r->doc->used++] = c;
	return true;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool read_hex4(struct reader *r, unsigned *out)
{
	*out = 0;
	if (r->end - r->p < 4)
		return false;
	for (int i = 0; i < 4; i++) {
		int d = hex_digit(r->p[i]);
		if (d < 0)
			return false;
		*out = *out << 4 | (unsigned)d;
	}
	r->p += 4;
	return true;
}

static bool put_utf8(struct reader *r, unsigned cp)
{
	if (cp < 0x80)
		return put_char(r, (char)cp);
	if (cp < 0x800)
		return put_char(r, (char)(0xC0 | cp >> 6)) && put_char(r, (char)(0x80 | (cp & 0x3F)));
	if (cp < 0x10000)
		return put_char(r, (char)(0xE0 | cp >> 12)) && put_char(r, (char)(0x80 | ((cp >> 6) & 0x3F))) &&
		       put_char(r, (char)(0x80 | (cp & 0x3F)));
	return put_char(r, (char)(0xF0 | cp >> 18)) && put_char(r, (char)(0x80 | ((cp >> 12) & 0x3F))) &&
	       put_char(r, (char)(0x80 | ((cp >> 6) & 0x3F))) && put_char(r, (char)(0x80 | (cp & 0x3F)));
}

static bool read_escape(struct reader *r)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned cp, low;

	if (r->p == r->end)
		return false;
	char c = *r->p++;
	const char *e = c ? strchr(from, c) : NULL;
	if (e)
		return put_char(r, to[e - from]);
	if (c != 'u' || !read_hex4(r, &cp))
		return false;
	if (cp >= 0xD800 && cp < 0xDC00) {
		if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
			return false;
		r->p += 2;
		if (!read_hex4(r, &low) || low < 0xDC00 || low > 0xDFFF)
			return false;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
	} else if (cp >= 0xDC00 && cp < 0xE000) {
		return false;
	}
	return put_utf8(r, cp);
}

/* A string at r->p (after its quote): its unescaped text, NUL-terminated, in the document. */
static const char *read_string(struct reader *r)
{
	const char *start = r->doc->text + r->doc->used;

	for (;;) {
		if (r->p == r->end)
			return NULL;
		char c = *r->p++;
		if (c == '"')
			break;
		if ((unsigned char)c < 0x20)
			return NULL;
		if (c == '\\' ? !read_escape(r) : !put_char(r, c))
			return NULL;
	}
	return put_char(r, '\0') ? start : NULL;
}

static bool digits(struct reader *r)
{
	const char *s = r->p;

	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > s;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as text. */
static bool read_number(struct reader *r, struct hs_json_node *n)
{
	const char *s = r->p;

	if (r->p < r->end && *r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0')
		r->p++;
	else if (!digits(r))
		return false;
	if (r->p < r->end && *r->p == '.' && (r->p++, !digits(r)))
		return false;
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!digits(r))
			return false;
	}
	n->text = r->doc->text + r->doc->used;
	for (const char *q = s; q < r->p; q++)
		if (!put_char(r, *q))
			return false;
	return put_char(r, '\0');
}

static bool read_literal(struct reader *r, const char *word)
{
	size_t len = strlen(word);

	if ((size_t)(r->end - r->p) < len || memcmp(r->p, word, len) != 0)
		return false;
	r->p += len;
	return true;
}

static int read_value(struct reader *r);

/* The members or elements of an object or array, after its opening bracket. */
static bool read_children(struct reader *r, int parent, bool object)
{
	int last = -1;
	char close = object ? '}' : ']';

	skip_space(r);
	if (r->p < r->end && *r->p == close) {
		r->p++;
		return true;
	}
	for (;;) {
		const char *key = NULL;
		skip_space(r);
		if (object) {
			if (r->p == r->end || *r->p++ != '"' || !(key = read_string(r)))
				return false;
			skip_space(r);
			if (r->p == r->end || *r->p++ != ':')
				return false;
		}
		int child = read_value(r);
		if (child < 0)
			return false;
		r->doc->nodes[child].key = key;
		if (last < 0)
			r->doc->nodes[parent].first = (uint16_t)(child + 1);
		else
			r->doc->nodes[last].next = (uint16_t)(child + 1);
		last = child;
		skip_space(r);
		if (r->p == r->end)
			return false;
		char c = *r->p++;
		if (c == close)
			return true;
		if (c != ',')
			return false;
	}
}

static int read_value(struct reader *r)
{
	int n = -1;

	skip_space(r);
	if (r->p == r->end || r->depth >= HS_JSON_MAX_DEPTH)
		return -1;
	char c = *r->p;
	if (c == '{' || c == '[') {
		r->p++;
		r->depth++;
		n = new_node(r, c == '{' ? HS_JSON_OBJECT : HS_JSON_ARRAY);
		if (n < 0 || !read_children(r, n, c == '{'))
			return -1;
		r->depth--;
	} else if (c == '"') {
		r->p++;
		n = new_node(r, HS_JSON_STRING);
		if (n < 0 || !(r->doc->nodes[n].text = read_string(r)))
			return -1;
	} else if (c == 't' || c == 'f' || c == 'n') {
		const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
		n = new_node(r, c == 't' ? HS_JSON_TRUE : c == 'f' ? HS_JSON_FALSE : HS_JSON_NULL);
		if (n < 0 || !read_literal(r, word))
			return -1;
	} else {
		n = new_node(r, HS_JSON_NUMBER);
		if (n < 0 || !read_number(r, &r->doc->nodes[n]))
			return -1;
	}
	return n;
}

bool hs_json_parse(struct hs_json_doc *doc, const char *text, size_t len)
{
	struct reader r = { doc, text, text + len, 0 };

	doc->count = 0;
	doc->used = 0;
	if (read_value(&r) < 0) {
		doc->count = 0;
		return false;
	}
	skip_space(&r);
	if (r.p != r.end) {
		doc->count = 0;
		return false;
	}
	return true;
}

const struct hs_json_node *hs_json_root(const struct hs_json_doc *doc)
{
	return doc->count ? &doc->nodes[0] : NULL;
}

const struct hs_json_node *hs_json_first(const struct hs_json_doc *doc, const struct hs_json_node *n)
{
	return n && (n->type == HS_JSON_ARRAY || n->type == HS_JSON_OBJECT) && n->first ? &doc->nodes[n->first - 1]
											  : NULL;
}

const struct hs_json_node *hs_json_next(const struct hs_json_doc *doc, const struct hs_json_node *n)
{
	return n && n->next ? &doc->nodes[n->next - 1] : NULL;
}

const struct hs_json_node *hs_json_get(const struct hs_json_doc *doc, const struct hs_json_node *object,
				       const char *key)
{
	if (!object || object->type != HS_JSON_OBJECT)
		return NULL;
	for (const struct hs_json_node *m = hs_json_first(doc, object); m; m = hs_json_next(doc, m))
		if (strcmp(m->key, key) == 0)
			return m;
	return NULL;
}

const char *hs_json_str(const struct hs_json_doc *doc, const struct hs_json_node *object, const char *key,
			const char *fallback)
{
	const struct hs_json_node *n = hs_json_get(doc, object, key);

	return n && n->type == HS_JSON_STRING ? n->text : fallback;
}

uint64_t hs_json_u64(const struct hs_json_doc *doc, const struct hs_json_node *object, const char *key)
{
	const struct hs_json_node *n = hs_json_get(doc, object, key);

	if (!n || n->type != HS_JSON_NUMBER || n->text[0] == '-')
		return 0;
	return strtoull(n->text, NULL, 10);
}

double hs_json_double(const struct hs_json_doc *doc, const struct hs_json_node *object, const char *key)
{
	const struct hs_json_node *n = hs_json_get(doc, object, key);

	return n && n->type == HS_JSON_NUMBER ? strtod(n->text, NULL) : 0.0;
}
