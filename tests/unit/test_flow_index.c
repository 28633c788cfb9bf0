/*
 * Unit test of the flow table's hash index (hs_flow_index.h) on its own:
 * records filed at chosen places, so that lines overflow and wrap at the
 * end of the index as a full or attacked table's do, which random keys
 * in a table almost never make happen.
 *
 * Against a model that knows every live record's place, after every
 * operation: each live record is found by the walk a lookup makes (the
 * home line, then on while the count says entries passed), every line's
 * count is the number of live entries filed past it from a home before it,
 * and no slot names a record that was taken out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hs_flow_index.h"
#include "test_random.h"

#define RECORDS 240u                    /* 21 lines of 15 slots, 315 slots */

struct model {
	bool live[RECORDS];
	struct hs_index_place place[RECORDS];
};

/* Whether a lookup from place finds record, walking as the table's lookup does. */
static bool found_by_walk(const struct hs_flow_index *x, struct hs_index_place place, uint32_t record)
{
	uint32_t line = place.home;

	for (uint32_t walked = 0; walked < x->nlines; walked++) {
		const struct hs_index_line *l = hs_index_line(x, line);

		for (uint32_t m = hs_index_matches(l, place.tag); m; m &= m - 1)
			if (hs_index_record(l, (uint32_t)__builtin_ctz(m)) == record)
				return true;
		if (l->passed == 0)
			return false;
		line = hs_index_next_line(x, line);
	}
	return false;
}

/* The line holding a record's entry, or UINT32_MAX (also for a record never filed: its tag is 0). */
static uint32_t line_of(const struct hs_flow_index *x, struct hs_index_place place, uint32_t record)
{
	uint32_t entry = place.tag << HS_INDEX_RECORD_BITS | record;

	if (place.tag == 0)
		return UINT32_MAX;
	for (uint32_t line = 0; line < x->nlines; line++)
		for (uint32_t s = 0; s < HS_INDEX_SLOTS; s++)
			if (x->lines[line].slot[s] == entry)
				return line;
	return UINT32_MAX;
}

static void check_against(const struct hs_flow_index *x, const struct model *m)
{
	uint32_t passed[64] = { 0 }, filed = 0;

	assert_true(x->nlines <= 64);
	for (uint32_t r = 0; r < RECORDS; r++) {
		uint32_t line = line_of(x, m->place[r], r);

		if (!m->live[r]) {
			assert_int_equal(line, UINT32_MAX);
			continue;
		}
		assert_int_not_equal(line, UINT32_MAX);
		assert_true(found_by_walk(x, m->place[r], r));
		for (uint32_t l = m->place[r].home; l != line; l = hs_index_next_line(x, l))
			passed[l]++;
		filed++;
	}
	uint32_t occupied = 0;
	for (uint32_t line = 0; line < x->nlines; line++) {
		assert_int_equal(x->lines[line].passed, passed[line]);
		for (uint32_t s = 0; s < HS_INDEX_SLOTS; s++)
			occupied += x->lines[line].slot[s] != 0;
	}
	assert_int_equal(occupied, filed);
}

/* Every record with one home, the last line, one tag: they fill it and wrap round to the first lines. */
static void test_one_home_wraps(void **state)
{
	(void)state;
	struct hs_flow_index x;
	struct model m;

	memset(&m, 0, sizeof(m));
	assert_true(hs_index_init(&x, RECORDS));
	assert_int_equal(x.nlines, RECORDS / HS_INDEX_FILL + 1);
	struct hs_index_place last = { x.nlines - 1, 5 };
	for (uint32_t r = 0; r < 40; r++) {
		hs_index_insert(&x, last, r);
		m.live[r] = true;
		m.place[r] = last;
	}
	check_against(&x, &m);
	struct hs_index_shape shape;
	hs_index_shape(&x, &shape);
	assert_int_equal(shape.used, 3);
	assert_int_equal(shape.longest_walk, 3);
	/* A record that is not there: nothing found, nothing changed. */
	assert_false(hs_index_remove(&x, last, 100));
	assert_false(hs_index_remove(&x, (struct hs_index_place){ x.nlines - 1, 6 }, 3));
	check_against(&x, &m);
	/* Out from the front: the entries that wrapped are still found, and the counts fall to zero. */
	for (uint32_t r = 0; r < 40; r++) {
		assert_true(hs_index_remove(&x, last, r));
		m.live[r] = false;
		check_against(&x, &m);
	}
	hs_index_shape(&x, &shape);
	assert_int_equal(shape.used, 0);
	assert_int_equal(shape.longest_walk, 1);
	hs_index_finalise(&x);
}

/*
 * Random filing and removal with few homes and few tags, so that lines
 * overflow into each other, runs of full lines form and wrap, and tags
 * collide within a line; up to the index's most, RECORDS records.
 */
static void test_random_against_model(void **state)
{
	(void)state;
	struct hs_flow_index x;
	struct model m;
	struct test_random rnd = { 0x9e3779b97f4a7c15ull };
	uint32_t live = 0;

	memset(&m, 0, sizeof(m));
	assert_true(hs_index_init(&x, RECORDS));
	for (int op = 0; op < 20000; op++) {
		uint64_t v = test_random_next(&rnd);
		uint32_t r = (uint32_t)(v % RECORDS);

		if (m.live[r]) {
			assert_true(hs_index_remove(&x, m.place[r], r));
			m.live[r] = false;
			live--;
		} else {
			/* Homes in a third of the lines, the last ones among them; tags 1 to 4 or 127. */
			uint32_t home = x.nlines - 1 - (uint32_t)((v >> 16) % (x.nlines / 3));
			uint32_t tag = (v >> 32) % 5 == 4 ? 127 : 1 + (uint32_t)((v >> 32) % 5);

			m.place[r] = (struct hs_index_place){ home, tag };
			hs_index_insert(&x, m.place[r], r);
			m.live[r] = true;
			live++;
		}
		if (op % 7 == 0 || live == RECORDS)
			check_against(&x, &m);
	}
	check_against(&x, &m);
	hs_index_finalise(&x);
}

/* The place of a hash: tags are never 0, homes stay inside the index, and both use all their range. */
static void test_places(void **state)
{
	(void)state;
	struct hs_flow_index x;
	struct test_random rnd = { 12345 };
	bool tag_seen[128] = { false };
	uint32_t lowest = UINT32_MAX, highest = 0;

	hs_index_size(&x, 1000000);
	for (int i = 0; i < 100000; i++) {
		struct hs_index_place p = hs_index_place_of(&x, test_random_next(&rnd));

		assert_true(p.tag >= 1 && p.tag <= 127);
		assert_true(p.home < x.nlines);
		tag_seen[p.tag] = true;
		lowest = p.home < lowest ? p.home : lowest;
		highest = p.home > highest ? p.home : highest;
	}
	for (int tag = 1; tag < 128; tag++)
		assert_true(tag_seen[tag]);
	assert_true(lowest < x.nlines / 100 && highest > x.nlines - x.nlines / 100);
	/* The top 7 bits all zero still give a tag. */
	assert_int_equal(hs_index_place_of(&x, 0).tag, 1);
	assert_int_equal(hs_index_place_of(&x, UINT64_MAX).tag, 127);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_home_wraps),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_places),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
