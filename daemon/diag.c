/*
 * diag: configuration diagnostics.  This module owns the text of every
 * problem reported while loading a configuration: the "FILE:LINE:COLUMN:"
 * header, the echoed source line and the caret/tilde underline beneath the
 * offending text.  It knows nothing about YAML except how libyaml counts
 * lines and columns, which it must match for the underline to land right.
 */
#include "hs_diag.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * A line longer than ECHO_MAX_CHARS characters (a whole configuration written
 * as one flow mapping, say) is shown as a window of that many characters,
 * starting ECHO_BEFORE characters before the problem where possible, so that
 * the output stays readable and bounded.
 */
#define ECHO_MAX_CHARS 160
#define ECHO_BEFORE 60

void hs_diag_init(struct hs_diag *diag, const char *file, const char *source, size_t source_len)
{
	memset(diag, 0, sizeof(*diag));
	/*
	 * Copies keep the diagnostics valid for as long as the caller keeps
	 * the collection, whatever happens to the buffers it was built from.
	 * If memory is short we fall back to messages without a name or an
	 * underline rather than failing: the problems themselves still count.
	 */
	diag->owned_file = strdup(file ? file : "<config>");
	diag->file = diag->owned_file ? diag->owned_file : "<config>";
	if (source) {
		diag->owned_source = malloc(source_len + 1);
		if (diag->owned_source) {
			memcpy(diag->owned_source, source, source_len);
			diag->owned_source[source_len] = '\0';
			diag->source = diag->owned_source;
			diag->source_len = source_len;
		}
	}
}

void hs_diag_free(struct hs_diag *diag)
{
	free(diag->text);
	free(diag->owned_file);
	free(diag->owned_source);
	memset(diag, 0, sizeof(*diag));
}

/* Makes room for n more bytes plus the terminating NUL. */
static bool reserve(struct hs_diag *diag, size_t n)
{
	if (n > SIZE_MAX / 2 - diag->len)
		return false;
	size_t need = diag->len + n + 1;
	if (need <= diag->cap)
		return true;
	size_t cap = diag->cap ? diag->cap : 256;
	while (cap < need)
		cap *= 2;
	char *text = realloc(diag->text, cap);
	if (!text)
		return false;
	diag->text = text;
	diag->cap = cap;
	return true;
}

/*
 * The appenders set *ok to false when memory runs out, so that the caller
 * can take back a half-written message instead of leaving a truncated one.
 */
static void append(struct hs_diag *diag, bool *ok, const char *s, size_t n)
{
	if (!*ok || !reserve(diag, n)) {
		*ok = false;
		return;
	}
	memcpy(diag->text + diag->len, s, n);
	diag->len += n;
	diag->text[diag->len] = '\0';
}

static void append_char(struct hs_diag *diag, bool *ok, char c)
{
	append(diag, ok, &c, 1);
}

__attribute__((format(printf, 3, 0)))
static void append_vfmt(struct hs_diag *diag, bool *ok, const char *fmt, va_list ap)
{
	char small[256];
	va_list aq;

	va_copy(aq, ap);
	int n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0) {
		*ok = false;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		append(diag, ok, small, (size_t)n);
		return;
	}
	if (!*ok || !reserve(diag, (size_t)n)) {
		*ok = false;
		return;
	}
	vsnprintf(diag->text + diag->len, (size_t)n + 1, fmt, ap);
	diag->len += (size_t)n;
}

__attribute__((format(printf, 3, 4)))
static void append_fmt(struct hs_diag *diag, bool *ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	append_vfmt(diag, ok, fmt, ap);
	va_end(ap);
}

/*
 * Length of the line break at p, or 0.  libyaml ends a line at LF, CR, CR LF
 * and the Unicode breaks NEL, LS and PS; counting the same way keeps our
 * line numbers in step with its marks.
 */
size_t hs_diag_break_len(const unsigned char *p, size_t n)
{
	if (n >= 1 && p[0] == '\n')
		return 1;
	if (n >= 1 && p[0] == '\r')
		return n >= 2 && p[1] == '\n' ? 2 : 1;
	if (n >= 2 && p[0] == 0xC2 && p[1] == 0x85)
		return 2;
	if (n >= 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
		return 3;
	return 0;
}

/* Byte length of the well-formed UTF-8 character at p, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xBF;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4;
	else
		return 0;
	/* The second byte's range excludes overlong forms and surrogates. */
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

/*
 * Finds the bytes of a 1-based line (without its break).  A UTF-8 byte order
 * mark at the very start is skipped because libyaml does not count it as a
 * column.  The empty remainder after a final line break is not a line worth
 * showing, so it is reported as missing.
 */
static bool find_line(const struct hs_diag *diag, unsigned line, size_t *start, size_t *end)
{
	const unsigned char *src = (const unsigned char *)diag->source;
	size_t n = diag->source_len, pos = 0;

	if (n >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF)
		pos = 3;
	for (unsigned cur = 1; cur < line; cur++) {
		size_t br = 0;
		while (pos < n && (br = hs_diag_break_len(src + pos, n - pos)) == 0)
			pos++;
		if (pos >= n)
			return false;
		pos += br;
	}
	if (pos >= n)
		return false;
	*start = pos;
	while (pos < n && hs_diag_break_len(src + pos, n - pos) == 0)
		pos++;
	*end = pos;
	return true;
}

/*
 * One character of the echoed line: its byte length and whether it can be
 * shown as is.  Control characters (C0, DEL and the C1 range, which includes
 * the terminal's CSI) and malformed bytes are shown as '?' so that a hostile
 * or corrupt file cannot drive the operator's terminal.
 */
static size_t echo_char(const unsigned char *p, size_t n, bool *printable)
{
	size_t len = utf8_len(p, n);

	if (len == 0) {
		*printable = false;
		return 1;
	}
	if (len == 1)
		*printable = p[0] == '\t' || (p[0] >= 0x20 && p[0] != 0x7F);
	else
		*printable = !(len == 2 && p[0] == 0xC2 && p[1] < 0xA0);
	return len;
}

/* Appends the source line and, if column > 0, its underline. */
static void append_echo(struct hs_diag *diag, bool *ok, unsigned line, unsigned column,
			unsigned width)
{
	const unsigned char *src = (const unsigned char *)diag->source;
	size_t start, end;

	if (!src || line == 0 || !find_line(diag, line, &start, &end))
		return;

	/* Count the line's characters so that the column can be clamped. */
	size_t chars = 0;
	for (size_t pos = start; pos < end; chars++) {
		bool printable;
		pos += echo_char(src + pos, end - pos, &printable);
	}
	/* The caret may sit one past the last character (an error at end of line). */
	size_t col = column == 0 ? 0 : column - 1;
	if (col > chars)
		col = chars;
	size_t first = 0, last = chars;
	if (chars > ECHO_MAX_CHARS) {
		first = col > ECHO_BEFORE ? col - ECHO_BEFORE : 0;
		if (first + ECHO_MAX_CHARS > chars)
			first = chars - ECHO_MAX_CHARS;
		last = first + ECHO_MAX_CHARS;
	}

	/* The line itself, remembering where the caret's tabs must go. */
	if (first > 0)
		append(diag, ok, "...", 3);
	size_t pos = start, index = 0;
	for (; pos < end && index < last; index++) {
		bool printable;
		size_t len = echo_char(src + pos, end - pos, &printable);
		if (index >= first) {
			if (printable)
				append(diag, ok, (const char *)src + pos, len);
			else
				append_char(diag, ok, '?');
		}
		pos += len;
	}
	if (last < chars)
		append(diag, ok, "...", 3);
	append_char(diag, ok, '\n');
	if (column == 0)
		return;

	/*
	 * The underline copies the tabs of the text before the caret, so it
	 * lines up whatever tab width the terminal uses.
	 */
	if (first > 0)
		append(diag, ok, "   ", 3);
	pos = start;
	for (index = 0; index < col; index++) {
		bool printable;
		size_t len = echo_char(src + pos, end - pos, &printable);
		if (index >= first)
			append_char(diag, ok, src[pos] == '\t' ? '\t' : ' ');
		pos += len;
	}
	append_char(diag, ok, '^');
	size_t tildes = width > 1 ? width - 1 : 0;
	if (col + 1 + tildes > last)
		tildes = last > col + 1 ? last - col - 1 : 0;
	for (size_t i = 0; i < tildes; i++)
		append_char(diag, ok, '~');
	append_char(diag, ok, '\n');
}

void hs_diag_report(struct hs_diag *diag, enum hs_diag_severity severity, unsigned line,
		    unsigned column, unsigned width, const char *fmt, ...)
{
	const char *file = diag->file ? diag->file : "<config>";
	size_t mark = diag->len;
	bool ok = true;
	va_list ap;

	if (severity == HS_DIAG_WARNING)
		diag->warnings++;
	else
		diag->errors++;

	if (diag->shown >= HS_DIAG_MAX_MESSAGES) {
		if (!diag->capped) {
			append_fmt(diag, &ok, "%s: note: too many problems; only the first %u are shown\n",
				   file, (unsigned)HS_DIAG_MAX_MESSAGES);
			diag->capped = ok;
		}
		goto out;
	}

	if (line == 0)
		append_fmt(diag, &ok, "%s: ", file);
	else if (column == 0)
		append_fmt(diag, &ok, "%s:%u: ", file, line);
	else
		append_fmt(diag, &ok, "%s:%u:%u: ", file, line, column);
	append_fmt(diag, &ok, "%s: ", severity == HS_DIAG_WARNING ? "warning" : "error");
	va_start(ap, fmt);
	append_vfmt(diag, &ok, fmt, ap);
	va_end(ap);
	append_char(diag, &ok, '\n');
	append_echo(diag, &ok, line, column, width);
	if (ok)
		diag->shown++;

out:
	/* A message that did not fit in memory is dropped whole, never cut. */
	if (!ok && diag->text) {
		diag->len = mark;
		diag->text[mark] = '\0';
	}
}
