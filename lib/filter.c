/* SPDX-License-Identifier: MIT */
/* placeholder: being written */
typedef int ts_placeholder_filter_t;
