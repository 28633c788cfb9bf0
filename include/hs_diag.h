/*
 * hs_diag: configuration diagnostics.  It owns the collection of problems
 * found while loading a file, each reported nftables-style as
 * "FILE:LINE:COLUMN: error: message" followed by the offending source line
 * with the bad text underlined, so an operator sees exactly what to fix:
 *
 *   handshaked.yaml:4:3: error: unknown key "max_flow" in table (did you mean "max_flows"?)
 *     max_flow: 10
 *     ^~~~~~~~
 */
#ifndef HS_DIAG_H
#define HS_DIAG_H

#include <stdbool.h>
#include <stddef.h>

enum hs_diag_severity { HS_DIAG_ERROR = 0, HS_DIAG_WARNING };

/*
 * At most this many problems are written out in full; later ones are still
 * counted, and a single note says that the rest were left out.  A file full
 * of mistakes then cannot produce megabytes of output.
 */
#define HS_DIAG_MAX_MESSAGES 100

struct hs_diag {
	char *text;                 /* every message so far, each line ending in '\n' */
	size_t len, cap;
	unsigned errors, warnings;  /* every problem reported, shown or not */
	const char *file;           /* file name used in messages (points at owned_file) */
	const char *source;         /* the file's contents, for the underline; may be NULL */
	size_t source_len;
	/* Private: the copies that file and source point at, and the cap's state. */
	char *owned_file;
	char *owned_source;
	unsigned shown;             /* problems written out in full */
	bool capped;                /* the "too many problems" note was written */
};

/*
 * Starts an empty collection.  The file name and the source text are copied,
 * so the caller may free its own buffers at once.  file may be NULL (messages
 * then say "<config>"); source may be NULL (messages then have no source
 * line and underline).
 */
void hs_diag_init(struct hs_diag *diag, const char *file, const char *source, size_t source_len);

/* Frees everything the collection owns; it may then be initialised again. */
void hs_diag_free(struct hs_diag *diag);

/*
 * Records a problem at a 1-based line and column, underlining `width`
 * characters (at least one; the underline stops at the end of the line, so
 * a node that spans lines may pass a large width).  Columns and widths count
 * characters (UTF-8 code points), as libyaml's marks do.  Line 0 means "no
 * position" (for example a file that cannot be read); column 0 means "this
 * line, no particular column": the line is shown without an underline.
 * Control characters in the echoed line are shown as '?'.
 */
void hs_diag_report(struct hs_diag *diag, enum hs_diag_severity severity, unsigned line,
		    unsigned column, unsigned width, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

/*
 * Length of the line break at p (n bytes left, n >= 1), or 0: LF, CR,
 * CR LF, and the Unicode breaks NEL, LS and PS, exactly the breaks libyaml
 * counts, so that positions worked out from the text agree with its marks.
 */
size_t hs_diag_break_len(const unsigned char *p, size_t n);

static inline const char *hs_diag_text(const struct hs_diag *diag)
{
	return diag->text ? diag->text : "";
}

#endif
