/* SPDX-License-Identifier: MIT */
#include "cli.h"
int cmd_list(int argc, char **argv) { (void)argc; (void)argv; return EXIT_ERROR; }
