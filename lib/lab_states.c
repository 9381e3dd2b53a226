/* SPDX-License-Identifier: MIT */
/* placeholder: being written */
typedef int ts_placeholder_lab_states_t;
