/*
 * policy_check: the checks on a policy set as a whole, made when the
 * configuration is loaded: which policies can never act because an earlier
 * one matches everything they do (shadowing), and which admission policies
 * overlap so that one new connection counts against both.  Each finding is
 * a warning at the later policy.  A policy's kind (admission, timed,
 * state) is the engine's own definition (hs_policy.h).
 */
#include "hs_policy_check.h"

#include <string.h>

#include "hs_match_values.h"

/*
 * Whether every address inside `inner` is inside some CIDR of the list.  A
 * CIDR no single entry holds may still be covered by several (two /9s make
 * a /8), so a CIDR that entries cut into is split in halves and each half
 * checked; only halves that some entry lies strictly inside are split, so
 * the recursion stays as shallow as the longest prefix in the list.
 */
static bool cidr_covered(const struct hs_cidr *inner, const struct hs_cidr *list, unsigned n)
{
	bool cut = false;

	for (unsigned i = 0; i < n; i++) {
		if (hs_cidr_holds(&list[i], inner))
			return true;
		if (hs_cidr_holds(inner, &list[i]))
			cut = true;
	}
	if (!cut)
		return false;
	struct hs_cidr half = *inner;
	half.prefix++;
	if (!cidr_covered(&half, list, n))
		return false;
	half.addr.bytes[inner->prefix / 8] |= (uint8_t)(0x80u >> (inner->prefix % 8));
	return cidr_covered(&half, list, n);
}

/* An absent address key matches any address of either family. */
static const struct hs_cidr any_address[2] = {
	{ .family = HS_FAMILY_IPV4, .prefix = 0 },
	{ .family = HS_FAMILY_IPV6, .prefix = 0 },
};

static bool cidrs_superset(const struct hs_cidr *outer, unsigned n_outer, const struct hs_cidr *inner,
			   unsigned n_inner)
{
	if (n_outer == 0)
		return true;
	if (n_inner == 0) {
		inner = any_address;
		n_inner = ARRAY_SIZE(any_address);
	}
	for (unsigned i = 0; i < n_inner; i++)
		if (!cidr_covered(&inner[i], outer, n_outer))
			return false;
	return true;
}

static bool cidrs_intersect(const struct hs_cidr *a, unsigned n_a, const struct hs_cidr *b, unsigned n_b)
{
	if (n_a == 0 || n_b == 0)
		return true;
	for (unsigned i = 0; i < n_a; i++)
		for (unsigned j = 0; j < n_b; j++)
			if (hs_cidr_holds(&a[i], &b[j]) || hs_cidr_holds(&b[j], &a[i]))
				return true;
	return false;
}

/* Whether ports lo..hi are all inside the union of the ranges. */
static bool ports_covered(uint32_t lo, uint32_t hi, const struct hs_port_range *list, unsigned n)
{
	while (lo <= hi) {
		uint32_t next = lo;
		for (unsigned i = 0; i < n; i++)
			if (list[i].lo <= lo && lo <= list[i].hi && list[i].hi + 1u > next)
				next = list[i].hi + 1u;
		if (next == lo)
			return false;
		lo = next;
	}
	return true;
}

static bool ports_superset(const struct hs_port_range *outer, unsigned n_outer,
			   const struct hs_port_range *inner, unsigned n_inner)
{
	if (n_outer == 0)
		return true;
	if (n_inner == 0)
		return ports_covered(1, 65535, outer, n_outer);
	for (unsigned i = 0; i < n_inner; i++)
		if (!ports_covered(inner[i].lo, inner[i].hi, outer, n_outer))
			return false;
	return true;
}

static bool ports_intersect(const struct hs_port_range *a, unsigned n_a, const struct hs_port_range *b,
			    unsigned n_b)
{
	if (n_a == 0 || n_b == 0)
		return true;
	for (unsigned i = 0; i < n_a; i++)
		for (unsigned j = 0; j < n_b; j++)
			if (a[i].lo <= b[j].hi && b[j].lo <= a[i].hi)
				return true;
	return false;
}

/* Whether every flow `inner` matches, `outer` matches too; with_states false ignores states. */
static bool match_superset(const struct hs_flow_match *outer, const struct hs_flow_match *inner,
			   bool with_states)
{
	if (with_states)
		for (int c = 0; c < HS_TCP_STATE_COUNT; c++)
			for (int s = 0; s < HS_TCP_STATE_COUNT; s++)
				for (unsigned local = 0; local <= HS_SIDES_ALL; local++)
					if (hs_flow_match_states(inner, c, s, local) &&
					    !hs_flow_match_states(outer, c, s, local))
						return false;
	return cidrs_superset(outer->src, outer->n_src, inner->src, inner->n_src) &&
	       cidrs_superset(outer->dst, outer->n_dst, inner->dst, inner->n_dst) &&
	       ports_superset(outer->src_ports, outer->n_src_ports, inner->src_ports,
			      inner->n_src_ports) &&
	       ports_superset(outer->dst_ports, outer->n_dst_ports, inner->dst_ports,
			      inner->n_dst_ports);
}

static bool match_intersects(const struct hs_flow_match *a, const struct hs_flow_match *b,
			     bool with_states)
{
	bool states = !with_states;

	for (int c = 0; !states && c < HS_TCP_STATE_COUNT; c++)
		for (int s = 0; !states && s < HS_TCP_STATE_COUNT; s++)
			for (unsigned local = 0; !states && local <= HS_SIDES_ALL; local++)
				states = hs_flow_match_states(a, c, s, local) && hs_flow_match_states(b, c, s, local);
	return states && cidrs_intersect(a->src, a->n_src, b->src, b->n_src) &&
	       cidrs_intersect(a->dst, a->n_dst, b->dst, b->n_dst) &&
	       ports_intersect(a->src_ports, a->n_src_ports, b->src_ports, b->n_src_ports) &&
	       ports_intersect(a->dst_ports, a->n_dst_ports, b->dst_ports, b->n_dst_ports);
}

/* Whether a group of `outer`'s scope always holds a group of `inner`'s: the same, or global. */
static bool scope_covers(enum hs_policy_scope outer, enum hs_policy_scope inner)
{
	return outer == inner || outer == HS_PER_GLOBAL;
}

/* Only timed thresholds `later` also has, no longer than its own, are met whenever its are. */
static bool threshold_first(uint32_t earlier_ms, uint32_t later_ms)
{
	return earlier_ms == 0 || (later_ms != 0 && earlier_ms <= later_ms);
}

/* Whether a match's state keys hold for every new flow (SYN_SENT / LISTEN), whichever of its ends is local. */
static bool matches_every_new_connection(const struct hs_flow_match *m)
{
	for (unsigned local = 0; local <= HS_SIDES_ALL; local++)
		if (!hs_flow_match_states(m, HS_TCP_SYN_SENT, HS_TCP_LISTEN, local))
			return false;
	return true;
}

enum shadow { SHADOW_NONE, SHADOW_MATCH, SHADOW_NEW_CONNECTIONS };

/*
 * Whether `later` can never act because `earlier` always acts first, as
 * the engine evaluates them (file order, first match acts):
 *  - state-entry and timed policies act when their match holds (and a
 *    timed one's thresholds have passed, once per state), so a broader
 *    earlier match with thresholds no longer than the later's wins;
 *  - an admission policy acts only once its limit or rate is exceeded, so
 *    a broader match is not enough: the earlier one must also be exceeded
 *    whenever the later one is.  That holds when it counts a superset of
 *    flows (limit; states included) or of new connections (rate; states
 *    are not looked at) in groups at least as wide, against a threshold no
 *    higher;
 *  - a new connection is also judged by state-entry policies in the same
 *    pass (its flow has just entered SYN_SENT / LISTEN), so one that
 *    matches every new connection an admission policy would judge acts
 *    before it.
 */
static enum shadow policy_shadows(const struct hs_policy *earlier, const struct hs_policy *later)
{
	bool e_timed = hs_policy_is_timed(earlier), l_timed = hs_policy_is_timed(later);
	bool e_admission = hs_policy_is_admission(earlier), l_admission = hs_policy_is_admission(later);

	if (e_timed != l_timed)
		return SHADOW_NONE;
	if (e_timed)
		return threshold_first(earlier->match.idle_ms, later->match.idle_ms) &&
			       threshold_first(earlier->match.state_age_ms, later->match.state_age_ms) &&
			       match_superset(&earlier->match, &later->match, true)
		       ? SHADOW_MATCH : SHADOW_NONE;
	if (!e_admission && !l_admission)
		return match_superset(&earlier->match, &later->match, true) ? SHADOW_MATCH : SHADOW_NONE;
	if (!e_admission)
		return matches_every_new_connection(&earlier->match) &&
			       match_superset(&earlier->match, &later->match, false)
		       ? SHADOW_NEW_CONNECTIONS : SHADOW_NONE;
	if (!l_admission)
		return SHADOW_NONE;
	if (earlier->has_limit && later->has_limit)
		return scope_covers(earlier->limit_per, later->limit_per) &&
			       earlier->limit_max <= later->limit_max &&
			       match_superset(&earlier->match, &later->match, true)
		       ? SHADOW_MATCH : SHADOW_NONE;
	if (earlier->has_rate && later->has_rate)
		return scope_covers(earlier->rate_per, later->rate_per) &&
			       earlier->rate_per_second <= later->rate_per_second &&
			       earlier->rate_burst <= later->rate_burst &&
			       match_superset(&earlier->match, &later->match, false)
		       ? SHADOW_MATCH : SHADOW_NONE;
	return SHADOW_NONE;
}

/*
 * Two admission policies of the same mechanism and scope whose matches
 * overlap without one holding the other (ports 8000-8080 and 8050-8100,
 * say) count part of the same traffic twice, against two thresholds: the
 * ranges were most likely meant to meet, not overlap.  A policy nested in
 * another (a tighter limit for one port under a looser one for all) is the
 * usual way to layer limits, and a limit beside a rate, or limits per
 * source beside limits per destination, guard different things, so none
 * of those is reported.
 */
static bool policies_overlap(const struct hs_policy *a, const struct hs_policy *b)
{
	bool states;

	if (!hs_policy_is_admission(a) || !hs_policy_is_admission(b))
		return false;
	if (a->has_limit && b->has_limit && a->limit_per == b->limit_per)
		states = true;
	else if (a->has_rate && b->has_rate && a->rate_per == b->rate_per)
		states = false;
	else
		return false;
	return match_intersects(&a->match, &b->match, states) &&
	       !match_superset(&a->match, &b->match, states) &&
	       !match_superset(&b->match, &a->match, states);
}

void hs_policy_check_set(struct cfg_loader *ld, const struct hs_policy_set *set,
			     const struct hs_policy_note *notes)
{
	for (uint32_t j = 1; j < set->count; j++) {
		const struct hs_policy *later = &set->items[j];
		bool shadowed = false;

		/* A policy whose states contradict each other already has its own warning. */
		if (!notes[j].ok || !hs_flow_match_states_possible(&later->match))
			continue;
		for (uint32_t i = 0; i < j && !shadowed; i++) {
			const struct hs_policy *earlier = &set->items[i];
			if (!notes[i].ok)
				continue;
			switch (policy_shadows(earlier, later)) {
			case SHADOW_MATCH:
				cfg_report_at(ld, HS_DIAG_WARNING, notes[j].anchor,
					  "policy \"%s\" can never act: \"%s\" (line %u) matches "
					  "everything it does", later->name, earlier->name, earlier->line);
				shadowed = true;
				break;
			case SHADOW_NEW_CONNECTIONS:
				cfg_report_at(ld, HS_DIAG_WARNING, notes[j].anchor,
					  "policy \"%s\" can never act: \"%s\" (line %u) matches every new "
					  "connection it would judge, and acts first",
					  later->name, earlier->name, earlier->line);
				shadowed = true;
				break;
			case SHADOW_NONE:
				break;
			}
		}
		for (uint32_t i = 0; i < j && !shadowed; i++) {
			const struct hs_policy *earlier = &set->items[i];
			if (notes[i].ok && policies_overlap(earlier, later)) {
				cfg_report_at(ld, HS_DIAG_WARNING, notes[j].anchor,
					  "policy \"%s\" overlaps \"%s\" (line %u): new connections that "
					  "match both are counted against both", later->name, earlier->name,
					  earlier->line);
				break;
			}
		}
	}
}

