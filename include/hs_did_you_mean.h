/*
 * hs_did_you_mean: suggestions for misspelt names (see did_you_mean.c).
 */
#ifndef HS_DID_YOU_MEAN_H
#define HS_DID_YOU_MEAN_H

#include <stddef.h>

/* Only words up to this long are compared: every name in the schema is shorter. */
#define HS_SUGGEST_MAX_LEN 32

/*
 * The name among candidates that text (len bytes) most likely misspells:
 * within two edits, and within a third of the name's length, ignoring
 * case; or the one name a shortened text begins.  NULL if none is close.
 */
const char *hs_suggest(const char *text, size_t len, const char *const *names, size_t count);

/* Formats " (did you mean \"NAME\"?)" into buf, or returns "" when name is NULL. */
const char *hs_did_you_mean(char *buf, size_t size, const char *name);

#endif
