/*
 * hs_daemon_command: the daemon's side of the control socket.  It carries
 * out a command the control socket checked (hs_control.h) against the
 * workers and the configuration the daemon owns, and writes the answer
 * into the command's reply.
 */
#ifndef HS_DAEMON_COMMAND_H
#define HS_DAEMON_COMMAND_H

#include "hs_control.h"
#include "hs_daemon.h"

void hs_daemon_command(struct hs_daemon *d, const struct hs_control_command *cmd);

#endif
