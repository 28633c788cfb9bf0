/*
 * hs_loopback: the second sighting of a looped-back packet.  A packet a
 * host sends to itself (127.0.0.0/8, ::1, or from one of its addresses to
 * another) passes the OUTPUT chain, then the loopback device hands it back
 * and it passes INPUT.  A daemon whose rules queue both chains is shown it
 * twice, and tracking both sightings would count every packet of the
 * connection twice.  The queue says where each sighting is: on its way
 * out a packet has an output device (lo) and no input device; on its way
 * back in, an input device (lo) and no output device.
 *
 * The rule, and why it holds whichever chains the rules queue: the way out
 * is always tracked, and the way in only when no way out of a looped-back
 * packet was seen lately.
 *   - both chains: a packet's way out is seen (and its verdict given)
 *     before its way in can exist, so every way in finds a recent way out
 *     and is a repeat; each packet counts once, on its way out, and both
 *     directions of a connection pass OUTPUT, so the flow is complete;
 *   - OUTPUT only: there is no way in to see; every packet counts once;
 *   - INPUT only: no way out is ever seen, so every way in is tracked;
 *     both directions pass INPUT too, so the flow is complete.
 * "Lately" (HS_LOOPBACK_MEMORY_MS) only matters when the rules change
 * while the daemon runs: once OUTPUT stops queueing, ways in are tracked
 * again after that long.  The memory must be shared by every queue
 * worker, since the two chains may queue to different queues.
 */
#ifndef HS_LOOPBACK_H
#define HS_LOOPBACK_H

#include <stdbool.h>
#include <stdint.h>

#define HS_LOOPBACK_MEMORY_MS 5000u

/* Where a queued packet is, as its in and out interfaces tell. */
enum hs_loopback_pass {
	HS_LO_ELSEWHERE = 0,        /* not on the loopback device, or forwarded */
	HS_LO_OUT,                  /* on its way out to the loopback device (OUTPUT, POSTROUTING) */
	HS_LO_IN,                   /* back in from it (PREROUTING, INPUT) */
};

/*
 * indev and outdev as the queue reports them (0: none); lo_ifindex is the
 * loopback device's.  Inline: the worker asks for every packet.
 */
static inline enum hs_loopback_pass hs_loopback_pass(uint32_t indev, uint32_t outdev, uint32_t lo_ifindex)
{
	if (lo_ifindex == 0)
		return HS_LO_ELSEWHERE;
	if (outdev == lo_ifindex && indev == 0)
		return HS_LO_OUT;
	if (indev == lo_ifindex && outdev == 0)
		return HS_LO_IN;
	return HS_LO_ELSEWHERE;
}

/*
 * Whether a packet seen on its way in (HS_LO_IN) at now_ms repeats one
 * already tracked on its way out; last_out_ms is when a way out was last
 * seen (0: never).
 */
bool hs_loopback_repeat(uint64_t now_ms, uint64_t last_out_ms);

#endif
