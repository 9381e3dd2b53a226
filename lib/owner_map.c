/* SPDX-License-Identifier: MIT */
/* placeholder: being written */
typedef int ts_placeholder_owner_map_t;
