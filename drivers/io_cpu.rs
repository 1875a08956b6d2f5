// SPDX-License-Identifier: GPL-2.0

//! Where a host queue's I/O work runs: the least used online CPU among those whose submissions
//! go to the queue, as the C host spreads the queues of every controller over the CPUs.

use kernel::{
    bindings,
    cpu::{nr_cpu_ids, CpuId},
    cpumask::Cpumask,
    sync::atomic::{Atomic, Relaxed},
};

/// How many queues (of every controller) run their I/O work on each CPU.
static QUEUES_ON: [Atomic<i32>; bindings::NR_CPUS as usize] =
    [const { Atomic::new(0) }; bindings::NR_CPUS as usize];

/// A CPU chosen for a queue's I/O work, counted as used until dropped.
///
/// # Invariants
///
/// `cpu` is below `NR_CPUS`, and this value holds one count of `QUEUES_ON[cpu]`.
pub(crate) struct IoCpu {
    cpu: CpuId,
}

impl IoCpu {
    /// Picks, among the online CPUs for which `serves` holds, one on which the fewest queues run
    /// (the first such), and counts it as used; `None` if there is none.
    pub(crate) fn pick(serves: impl Fn(u32) -> bool) -> Option<Self> {
        // SAFETY: `__cpu_online_mask` is the kernel's mask of online CPUs, valid for its whole
        // life.
        let online = unsafe { Cpumask::from_raw(&raw const bindings::__cpu_online_mask) };
        let mut best: Option<(CpuId, i32)> = None;
        let last = nr_cpu_ids().min(bindings::NR_CPUS);
        for id in 0..last {
            let Some(cpu) = CpuId::from_u32(id) else {
                continue;
            };
            if !online.test(cpu) || !serves(id) {
                continue;
            }
            // PANIC: `id < NR_CPUS`, the length of the array.
            let n = QUEUES_ON[id as usize].load(Relaxed);
            if best.is_none_or(|(_, least)| n < least) {
                best = Some((cpu, n));
            }
        }
        let (cpu, _) = best?;
        // PANIC: `cpu` is a CPU below `NR_CPUS`, the length of the array (chosen in the loop).
        QUEUES_ON[cpu.as_u32() as usize].add(1, Relaxed);
        // INVARIANT: Counted above, for a CPU below `NR_CPUS`.
        Some(Self { cpu })
    }

    /// Returns the CPU.
    pub(crate) fn id(&self) -> u32 {
        self.cpu.as_u32()
    }
}

impl Drop for IoCpu {
    fn drop(&mut self) {
        if let Some(n) = QUEUES_ON.get(self.cpu.as_u32() as usize) {
            n.add(-1, Relaxed);
        }
    }
}
