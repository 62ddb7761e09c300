/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/* Configuration, counters, and which processes are traced. */
#ifndef CT_PROCESS_H
#define CT_PROCESS_H

static __always_inline struct ct_config *cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ct_cfg, &zero);
}

static __always_inline void count(__u32 idx, __u64 n)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);
	if (c)
		__sync_fetch_and_add(c, n);
}

/* Whether the current process is traced at all. */
static __always_inline int traced(__u32 pid)
{
	struct ct_config *c = cfg();
	if (!c)
		return 0;
	if (pid == c->self_pid)
		return 0;
	if (c->filter_pids && !bpf_map_lookup_elem(&pid_filter, &pid))
		return 0;
	if (c->filter_cgroups) {
		/* The process's cgroup or any cgroup above it (a pod's cgroup
		 * sits below kubepods.slice). */
		__u64 cg = bpf_get_current_cgroup_id();
		int found = bpf_map_lookup_elem(&cgroup_filter, &cg) != 0;
		for (int level = 1; level <= 12 && !found; level++) {
			__u64 up = bpf_get_current_ancestor_cgroup_id(level);
			if (!up)
				break;
			found = bpf_map_lookup_elem(&cgroup_filter, &up) != 0;
		}
		if (!found)
			return 0;
	}
	if (c->filter_comms) {
		struct comm_name n = {};
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);
		BPF_CORE_READ_STR_INTO(&n.name, leader, comm);
		if (!bpf_map_lookup_elem(&comm_filter, &n))
			return 0;
	}
	return 1;
}

#endif
