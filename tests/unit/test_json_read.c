/*
 * test_json_read: unit tests of daemon/json_read.c, the reader handshakectl
 * formats the daemon's answers with: what it reads, and that text which is
 * not JSON, or too deep or too big for its fixed arrays, is refused rather
 * than half read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hs_json_read.h"

static struct hs_json_doc doc;

static bool parse(const char *text)
{
	return hs_json_parse(&doc, text, strlen(text));
}

static void test_values(void **state)
{
	(void)state;
	assert_true(parse(" {\"id\":17,\"client\":{\"addr\":\"10.0.0.1\",\"port\":40000},\"local\":null,"
			  "\"ok\":true,\"no\":false,\"list\":[1,2,[3]],\"ts\":1795469283.177,\"neg\":-5,\"e\":1e3} \n"));
	const struct hs_json_node *root = hs_json_root(&doc);
	assert_int_equal(root->type, HS_JSON_OBJECT);
	assert_int_equal(hs_json_u64(&doc, root, "id"), 17);
	const struct hs_json_node *c = hs_json_get(&doc, root, "client");
	assert_string_equal(hs_json_str(&doc, c, "addr", "?"), "10.0.0.1");
	assert_int_equal(hs_json_u64(&doc, c, "port"), 40000);
	assert_int_equal(hs_json_get(&doc, root, "local")->type, HS_JSON_NULL);
	assert_int_equal(hs_json_get(&doc, root, "ok")->type, HS_JSON_TRUE);
	assert_int_equal(hs_json_get(&doc, root, "no")->type, HS_JSON_FALSE);
	assert_true(hs_json_double(&doc, root, "ts") > 1795469283.17 && hs_json_double(&doc, root, "ts") < 1795469283.18);
	assert_int_equal(hs_json_u64(&doc, root, "neg"), 0);        /* not an unsigned number */
	assert_true(hs_json_double(&doc, root, "e") == 1000.0);
	/* Members and elements in order. */
	const struct hs_json_node *list = hs_json_get(&doc, root, "list");
	const struct hs_json_node *e = hs_json_first(&doc, list);
	assert_string_equal(e->text, "1");
	e = hs_json_next(&doc, e);
	assert_string_equal(e->text, "2");
	e = hs_json_next(&doc, e);
	assert_int_equal(e->type, HS_JSON_ARRAY);
	assert_null(hs_json_next(&doc, e));
	/* Absent, or of another type: the fallback. */
	assert_null(hs_json_get(&doc, root, "missing"));
	assert_string_equal(hs_json_str(&doc, root, "id", "fallback"), "fallback");
	assert_null(hs_json_get(&doc, list, "x"));
	assert_true(parse("{}"));
	assert_null(hs_json_first(&doc, hs_json_root(&doc)));
	assert_true(parse("[]"));
}

static void test_strings(void **state)
{
	(void)state;
	assert_true(parse("{\"r\":\"a\\\"b\\\\c\\/d\\n\\t\\u00e9\\u20ac\\ud83d\\ude00\"}"));
	assert_string_equal(hs_json_str(&doc, hs_json_root(&doc), "r", "?"),
			    "a\"b\\c/d\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	assert_false(parse("{\"r\":\"\\ud83d\"}"));             /* a lone high surrogate */
	assert_false(parse("{\"r\":\"\\ude00\"}"));             /* a lone low one */
	assert_false(parse("{\"r\":\"\\x41\"}"));
	assert_false(parse("{\"r\":\"\\u12\"}"));
	assert_false(parse("{\"r\":\"tab\there\"}"));          /* control characters must be escaped */
	assert_false(parse("{\"r\":\"unterminated}"));
}

static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{a:1}", "[1,]", "[1 2]", "{\"a\":1}x",
		"{\"a\":1}{\"b\":2}", "tru", "nul", "-", "01", "1.", ".5", "1e", "1e+", "--1", "+1", "\"abc",
		"{\"a\":[}", "[\"a\":1]",
	};
	char deep[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i]))
			fail_msg("accepted: \"%s\"", bad[i]);
	assert_null(hs_json_root(&doc));
	/* Nesting beyond the limit is refused, at the limit read. */
	memset(deep, '[', HS_JSON_MAX_DEPTH);
	memset(deep + HS_JSON_MAX_DEPTH, ']', HS_JSON_MAX_DEPTH);
	deep[2 * HS_JSON_MAX_DEPTH] = '\0';
	assert_true(parse(deep));
	memset(deep, '[', HS_JSON_MAX_DEPTH + 1);
	memset(deep + HS_JSON_MAX_DEPTH + 1, ']', HS_JSON_MAX_DEPTH + 1);
	deep[2 * HS_JSON_MAX_DEPTH + 2] = '\0';
	assert_false(parse(deep));
	/* More values than nodes, or more text than the document holds: refused, not cut. */
	static char many[8 * HS_JSON_MAX_NODES];
	size_t used = 0;
	many[used++] = '[';
	for (int i = 0; i < HS_JSON_MAX_NODES; i++)
		used += (size_t)snprintf(many + used, sizeof(many) - used, "%s1", i ? "," : "");
	many[used++] = ']';
	assert_false(hs_json_parse(&doc, many, used));
	static char long_string[HS_JSON_MAX_TEXT + 16];
	memset(long_string, 'x', sizeof(long_string));
	long_string[0] = '"';
	long_string[sizeof(long_string) - 1] = '"';
	assert_false(hs_json_parse(&doc, long_string, sizeof(long_string)));
	/* The length is the limit: a NUL inside it is no end of text, and nothing past it is read. */
	assert_false(hs_json_parse(&doc, "{\"a\":1}", 5));
	assert_true(hs_json_parse(&doc, "{\"a\":1}garbage", 7));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
