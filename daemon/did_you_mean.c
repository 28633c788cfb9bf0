/*
 * did_you_mean: "did you mean" hints for misspelt keys, states, actions and
 * commands.  It owns the edit distance and the rule for when a name is
 * close enough to suggest.
 */
#include "hs_did_you_mean.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Case folding that ignores the locale: keys and names are ASCII. */
static int tolower_ascii(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/*
 * Edit distance with adjacent transpositions (optimal string alignment),
 * ignoring case, for "did you mean" hints.  Only short words are compared:
 * keys and names in this schema are at most a dozen characters.
 */
static unsigned edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned d[HS_SUGGEST_MAX_LEN + 1][HS_SUGGEST_MAX_LEN + 1];

	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			int ca = tolower_ascii(a[i - 1]), cb = tolower_ascii(b[j - 1]);
			unsigned best = d[i - 1][j - 1] + (ca != cb);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && ca == tolower_ascii(b[j - 2]) &&
			    tolower_ascii(a[i - 2]) == cb && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/*
 * The name among candidates that text most likely misspells: within two
 * edits, and within a third of the name's length so that short names are
 * not "corrected" into unrelated ones.  NULL if nothing is that close.
 */
const char *hs_suggest(const char *text, size_t len, const char *const *names, size_t count)
{
	const char *best = NULL;
	unsigned best_distance = 3;

	if (len > HS_SUGGEST_MAX_LEN)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		size_t name_len = strlen(names[i]);
		unsigned limit = (unsigned)(name_len / 3);
		if (limit < 1)
			limit = 1;
		if (limit > 2)
			limit = 2;
		if (name_len > HS_SUGGEST_MAX_LEN || (len > name_len ? len - name_len : name_len - len) > limit)
			continue;
		unsigned distance = edit_distance(text, len, names[i], name_len);
		if (distance <= limit && distance < best_distance) {
			best = names[i];
			best_distance = distance;
		}
	}
	/* A shortened name ("warn", "max") points to the one name it begins. */
	if (best || len < 3)
		return best;
	for (size_t i = 0; i < count; i++) {
		if (strlen(names[i]) > len && strncasecmp(names[i], text, len) == 0) {
			if (best)
				return NULL;    /* ambiguous: better no hint than a wrong one */
			best = names[i];
		}
	}
	return best;
}

/* Formats " (did you mean "NAME"?)", or nothing. */
const char *hs_did_you_mean(char *buf, size_t size, const char *name)
{
	if (!name)
		return "";
	snprintf(buf, size, " (did you mean \"%s\"?)", name);
	return buf;
}

