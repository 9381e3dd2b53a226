/* SPDX-License-Identifier: MIT */
/* placeholder: being written */
typedef int ts_placeholder_diag_t;
