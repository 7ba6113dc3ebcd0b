// Transparent huge pages for the agent's big typed arrays (the megaflow table's slot arrays, in the
// datapath thread): glibc's malloc madvises its large chunks for THP when GLIBC_TUNABLES carries
// glibc.malloc.hugetlb=1 (glibc >= 2.35; older ones ignore it). With 4 KiB pages, a lookup in a
// table of a million flows misses the TLB on nearly every slot it reads. The launcher (bin/tollgate)
// sets it; so do the lab and the benchmarks for the agents they start.
import { readFileSync } from 'node:fs';

export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

/** `env` with the tunable added to GLIBC_TUNABLES, unless a hugetlb setting is there already. */
export function withHugePagesTunable(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const tunables = env.GLIBC_TUNABLES ?? '';
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(tunables)) return env;
  return { ...env, GLIBC_TUNABLES: tunables === '' ? HUGE_PAGES_TUNABLE : `${tunables}:${HUGE_PAGES_TUNABLE}` };
}

/** Bytes of this process's memory in transparent huge pages (0 where the kernel does not say). */
export function hugePageBytes(): number {
  try {
    const m = /^AnonHugePages:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}
