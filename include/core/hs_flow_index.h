/*
 * hs_flow_index: the flow table's hash index, from a key's hash to the
 * records that may hold it.  It owns the index's lines and how entries are
 * placed in them, found and taken out; the table (table.c) owns the records
 * and decides which candidate is the flow by comparing keys.
 *
 * The index is open addressing over 64-byte lines, each line one cache
 * line: 15 slots and a count.  A slot holds a record's index (25 bits)
 * under a 7-bit tag taken from the hash, or 0 when empty (a tag is never
 * 0).  A key's hash names its home line; an entry goes in the first line
 * from home with a free slot, and each full line it passes counts it.  A
 * lookup reads the home line, compares all 15 tags at once, and goes on to
 * the next line only while the line it read counts entries that passed it.
 *
 * Why not chains through the records, as before: a chain is walked one
 * record at a time, each a cache miss that depends on the last, and at a
 * full table a lookup in three walked past the first record.  Here a
 * lookup reads one line and then, almost always, exactly the record it
 * wants (a wrong tag matches one slot in 127), and the batch path knows
 * that record's address one step after the line arrives: two memory
 * accesses a packet, as the memory floor has.  The index is sized at 10
 * entries a line at most (two thirds full), for 6.4 bytes a flow: then 1%
 * of a full table's flows lie beyond their home line, each costing its
 * lookup a second line.  At 12 a line (5.3 bytes) it was 3.9%, and 1M
 * flows tracked 15% slower (bench_core).
 */
#ifndef HS_FLOW_INDEX_H
#define HS_FLOW_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define HS_INDEX_SLOTS 15u              /* slots a line */
#define HS_INDEX_FILL 10u               /* entries a line holds at most on average, at a full table */
#define HS_INDEX_RECORD_BITS 25u        /* a record's index: both arrays of 2^24 records */
#define HS_INDEX_RECORD_MASK ((1u << HS_INDEX_RECORD_BITS) - 1)

struct hs_index_line {
	/* Entries whose home is this line or one before it, placed after it: a lookup must go on. */
	uint32_t passed;
	uint32_t slot[HS_INDEX_SLOTS];
} __attribute__((aligned(64)));

_Static_assert(sizeof(struct hs_index_line) == 64, "an index line is one cache line");

struct hs_flow_index {
	struct hs_index_line *lines;
	uint32_t nlines;
	size_t bytes;
};

/* Where a key's entry lives: its home line and its tag (1 to 127). */
struct hs_index_place {
	uint32_t home;
	uint32_t tag;
};

/* The place of a hash: the home from its low 32 bits (times the lines, so any number of lines does), the tag from its top 7. */
static inline struct hs_index_place hs_index_place_of(const struct hs_flow_index *x, uint64_t hash)
{
	uint32_t tag = (uint32_t)(hash >> 57);

	return (struct hs_index_place){ (uint32_t)(((uint64_t)(uint32_t)hash * x->nlines) >> 32), tag + (tag == 0) };
}

static inline const struct hs_index_line *hs_index_line(const struct hs_flow_index *x, uint32_t line)
{
	return &x->lines[line];
}

/* The line after one, wrapping at the end. */
static inline uint32_t hs_index_next_line(const struct hs_flow_index *x, uint32_t line)
{
	return line + 1 == x->nlines ? 0 : line + 1;
}

/*
 * The slots of a line whose tag is tag, as a bit mask (bit i: slot i).
 * With SSE2 (every x86-64) the 16 words of the line are compared in four
 * vectors and packed into one mask; elsewhere a loop the compiler may
 * vectorize does the same.  The count, word 0, never matches: it is
 * dropped by the shift.
 */
static inline uint32_t hs_index_words_equal(const struct hs_index_line *line, uint32_t shift, uint32_t want)
{
#if defined(__SSE2__)
	const __m128i *v = (const __m128i *)line;
	__m128i w = _mm_set1_epi32((int)want);
	__m128i c0 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(v), (int)shift), w);
	__m128i c1 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(v + 1), (int)shift), w);
	__m128i c2 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(v + 2), (int)shift), w);
	__m128i c3 = _mm_cmpeq_epi32(_mm_srli_epi32(_mm_load_si128(v + 3), (int)shift), w);
	__m128i bytes = _mm_packs_epi16(_mm_packs_epi32(c0, c1), _mm_packs_epi32(c2, c3));

	return (uint32_t)_mm_movemask_epi8(bytes) >> 1;
#else
	uint32_t mask = 0;

	for (uint32_t i = 0; i < HS_INDEX_SLOTS; i++)
		mask |= (uint32_t)((line->slot[i] >> shift) == want) << i;
	return mask;
#endif
}

static inline uint32_t hs_index_matches(const struct hs_index_line *line, uint32_t tag)
{
	return hs_index_words_equal(line, HS_INDEX_RECORD_BITS, tag);
}

/* The record a slot names. */
static inline uint32_t hs_index_record(const struct hs_index_line *line, uint32_t slot)
{
	return line->slot[slot] & HS_INDEX_RECORD_MASK;
}

/*
 * An index for a table of capacity records, 0 lines used: reserved whole,
 * resident as lines are first written (hs_bigmem).  False (errno set) if
 * it cannot be had.
 */
bool hs_index_init(struct hs_flow_index *x, uint32_t capacity);
/* Only the size of such an index, lines and bytes, with nothing reserved. */
void hs_index_size(struct hs_flow_index *x, uint32_t capacity);
void hs_index_finalise(struct hs_flow_index *x);

/* Files a record at its place.  The index always has room: it holds more slots than the table records. */
void hs_index_insert(struct hs_flow_index *x, struct hs_index_place place, uint32_t record);

/* Takes a record filed at place out of the index; false if it was not there (which is a bug in the caller). */
bool hs_index_remove(struct hs_flow_index *x, struct hs_index_place place, uint32_t record);

/*
 * The index's shape, for tests and diagnostics (O(lines), never the
 * packet path): lines, lines holding an entry, and the longest run of
 * lines a lookup walks (1 when no line ever overflowed).
 */
struct hs_index_shape {
	uint32_t lines, used, longest_walk;
};
void hs_index_shape(const struct hs_flow_index *x, struct hs_index_shape *out);

#endif
