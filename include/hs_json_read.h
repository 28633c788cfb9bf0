/*
 * hs_json_read: a small reader of the JSON the daemon writes (one object
 * per line), for handshakectl to format it.  A document holds one parsed
 * value in fixed arrays: no allocation, bounded depth, every read bounded
 * by the text's length; text that is not JSON is refused, never guessed at.
 * Numbers keep their text and are read as unsigned integers or doubles.
 */
#ifndef HS_JSON_READ_H
#define HS_JSON_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_JSON_MAX_NODES 2048
#define HS_JSON_MAX_TEXT 32768      /* strings, unescaped, with their NULs */
#define HS_JSON_MAX_DEPTH 16

enum hs_json_type { HS_JSON_NULL = 0, HS_JSON_FALSE, HS_JSON_TRUE, HS_JSON_NUMBER, HS_JSON_STRING,
		    HS_JSON_ARRAY, HS_JSON_OBJECT };

struct hs_json_node {
	uint8_t type;               /* enum hs_json_type */
	const char *key;            /* inside an object: the member's name; else NULL */
	const char *text;           /* a string's value, a number's digits */
	uint16_t first;             /* arrays and objects: index of the first element + 1, 0 if empty */
	uint16_t next;              /* the next sibling's index + 1, 0 at the end */
};

struct hs_json_doc {
	unsigned count;
	struct hs_json_node nodes[HS_JSON_MAX_NODES];
	size_t used;
	char text[HS_JSON_MAX_TEXT];
};

/* Parses len bytes holding one value (surrounding spaces allowed).  False if it is not JSON or too big. */
bool hs_json_parse(struct hs_json_doc *doc, const char *text, size_t len);

/* The document's value; NULL if none was parsed. */
const struct hs_json_node *hs_json_root(const struct hs_json_doc *doc);
/* An object's member by name; NULL if absent or not an object. */
const struct hs_json_node *hs_json_get(const struct hs_json_doc *doc, const struct hs_json_node *object,
				       const char *key);
/* The elements or members of an array or object, in order: first, then next until NULL. */
const struct hs_json_node *hs_json_first(const struct hs_json_doc *doc, const struct hs_json_node *node);
const struct hs_json_node *hs_json_next(const struct hs_json_doc *doc, const struct hs_json_node *node);

/* A string member's value, or fallback if absent or not a string. */
const char *hs_json_str(const struct hs_json_doc *doc, const struct hs_json_node *object, const char *key,
			const char *fallback);
/* A number member as an unsigned integer (0 if absent, negative or not a number). */
uint64_t hs_json_u64(const struct hs_json_doc *doc, const struct hs_json_node *object, const char *key);
double hs_json_double(const struct hs_json_doc *doc, const struct hs_json_node *object, const char *key);

#endif
