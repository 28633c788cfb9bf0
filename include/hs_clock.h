/*
 * hs_clock: the daemon's clocks, read at the edges only.  The core never
 * reads a clock: every core function takes the time as an argument, and
 * the workers, the main loop and the control socket read it here.
 */
#ifndef HS_CLOCK_H
#define HS_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock: the time base of every table. */
uint64_t hs_now_ms(void);

/* Microseconds on the monotonic clock, for timing the packet path. */
uint64_t hs_now_us(void);

/*
 * The wall clock (milliseconds since the epoch) at a moment of the
 * monotonic clock, for the "ts" of events: tables keep monotonic time,
 * operators read calendar time.
 */
uint64_t hs_wall_ms_at(uint64_t mono_ms);

#endif
