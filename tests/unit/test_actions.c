/*
 * test_actions: the core's action list (daemon/core/actions.c): actions
 * come out in the order they went in, a full list hands its events to the
 * spill function and keeps its resets (or counts the events as lost
 * without one), timed resets respect reset_room, and taking the last
 * action empties the list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hs_actions.h"

static struct hs_flow flow_with_id(uint32_t id)
{
	struct hs_flow f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	hs_flow_set_family(&f, HS_FAMILY_IPV4);
	return f;
}

static void test_order_and_empty(void **state)
{
	static struct hs_actions list;
	struct hs_action a;
	(void)state;

	hs_actions_init(&list, NULL, NULL);
	struct hs_flow f1 = flow_with_id(1), f2 = flow_with_id(2);
	struct hs_action *e = hs_actions_event(&list, HS_EV_STATE, &f1, 10);
	assert_non_null(e);
	e->old_state[HS_SERVER] = HS_TCP_SYN_RCVD;
	assert_non_null(hs_actions_reset(&list, &f2, 7, 1u << HS_SERVER, 11, false));
	assert_non_null(hs_actions_event(&list, HS_EV_DELETE, &f2, 12));
	assert_int_equal(hs_actions_pending(&list), 3);

	assert_true(hs_actions_next(&list, &a));
	assert_int_equal(a.type, HS_DO_EVENT);
	assert_int_equal(a.event, HS_EV_STATE);
	assert_int_equal(a.flow.id, 1);
	assert_int_equal(a.old_state[HS_SERVER], HS_TCP_SYN_RCVD);
	assert_int_equal(a.policy, HS_ACTIONS_NO_POLICY);
	assert_true(hs_actions_next(&list, &a));
	assert_int_equal(a.type, HS_DO_RESET);
	assert_int_equal(a.sides, 1u << HS_SERVER);
	assert_int_equal(a.flow_index, 7);
	assert_int_equal(a.now_ms, 11);
	assert_true(hs_actions_next(&list, &a));
	assert_int_equal(a.event, HS_EV_DELETE);
	assert_false(hs_actions_next(&list, &a));
	assert_int_equal(list.head, 0);
	assert_int_equal(list.count, 0);
	assert_string_equal(hs_event_kind_name(HS_EV_POLICY), "policy");
}

struct spilled {
	unsigned n;
	uint32_t ids[2 * HS_ACTIONS_MAX];
};

static void spill_one(void *ctx, const struct hs_action *a)
{
	struct spilled *s = ctx;

	assert_int_equal(a->type, HS_DO_EVENT);
	s->ids[s->n++] = a->flow.id;
}

static void spill(void *ctx, struct hs_actions *list)
{
	hs_actions_spill_events(list, spill_one, ctx);
}

/* A full list spills its events in order and keeps its resets, in order, at the front. */
static void test_spill_keeps_resets(void **state)
{
	static struct hs_actions list;
	static struct spilled spilled;
	struct hs_action a;
	(void)state;

	memset(&spilled, 0, sizeof(spilled));
	hs_actions_init(&list, spill, &spilled);
	for (uint32_t i = 0; i < HS_ACTIONS_MAX; i++) {
		struct hs_flow f = flow_with_id(i + 1);
		if (i % 4 == 3)
			assert_non_null(hs_actions_reset(&list, &f, i, 3, i, true));
		else
			assert_non_null(hs_actions_event(&list, HS_EV_NEW, &f, i));
	}
	assert_int_equal(spilled.n, 0);
	struct hs_flow extra = flow_with_id(1000);
	assert_non_null(hs_actions_event(&list, HS_EV_EXPIRE, &extra, 999));
	/* Three events out of every four were spilled; the resets and the new event remain. */
	assert_int_equal(spilled.n, HS_ACTIONS_MAX / 4 * 3);
	assert_int_equal(spilled.ids[0], 1);
	assert_int_equal(spilled.ids[3], 5);
	assert_int_equal(hs_actions_pending(&list), HS_ACTIONS_MAX / 4 + 1);
	for (uint32_t i = 0; i < HS_ACTIONS_MAX / 4; i++) {
		assert_true(hs_actions_next(&list, &a));
		assert_int_equal(a.type, HS_DO_RESET);
		assert_int_equal(a.flow.id, 4 * i + 4);
	}
	assert_true(hs_actions_next(&list, &a));
	assert_int_equal(a.flow.id, 1000);
	assert_false(hs_actions_next(&list, &a));
	assert_int_equal(list.events_lost, 0);
}

/* Without a spill function a full list loses events (counted) and refuses resets. */
static void test_full_without_spill(void **state)
{
	static struct hs_actions list;
	struct hs_action a;
	(void)state;

	hs_actions_init(&list, NULL, NULL);
	struct hs_flow f = flow_with_id(5);
	for (uint32_t i = 0; i < HS_ACTIONS_MAX; i++)
		assert_non_null(hs_actions_event(&list, HS_EV_STATE, &f, i));
	assert_null(hs_actions_event(&list, HS_EV_STATE, &f, 0));
	assert_null(hs_actions_reset(&list, &f, 0, 1, 0, false));
	assert_int_equal(list.events_lost, 1);
	/* Taking one makes room again (the rest moves to the front). */
	assert_true(hs_actions_next(&list, &a));
	assert_non_null(hs_actions_reset(&list, &f, 0, 1, 0, false));
	assert_int_equal(hs_actions_pending(&list), HS_ACTIONS_MAX);
	/* Unwanted events are not recorded at all. */
	list.want_events = false;
	assert_null(hs_actions_event(&list, HS_EV_STATE, &f, 0));
	assert_int_equal(list.events_lost, 1);
}

/* Timed (deferrable) resets stop at reset_room; the others do not. */
static void test_reset_room(void **state)
{
	static struct hs_actions list;
	(void)state;

	hs_actions_init(&list, NULL, NULL);
	struct hs_flow f = flow_with_id(9);
	list.reset_room = 1;
	assert_non_null(hs_actions_reset(&list, &f, 0, 3, 0, true));
	assert_int_equal(list.reset_room, 0);
	assert_null(hs_actions_reset(&list, &f, 0, 3, 0, true));
	assert_int_equal(list.resets_deferred, 1);
	assert_non_null(hs_actions_reset(&list, &f, 0, 3, 0, false));
	assert_int_equal(hs_actions_pending(&list), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_empty),
		cmocka_unit_test(test_spill_keeps_resets),
		cmocka_unit_test(test_full_without_spill),
		cmocka_unit_test(test_reset_room),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
