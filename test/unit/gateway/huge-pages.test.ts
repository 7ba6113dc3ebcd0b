// The GLIBC_TUNABLES setting that puts the agent's big typed arrays in transparent huge pages.
import { HUGE_PAGES_TUNABLE, withHugePagesTunable } from '../../../src/gateway/huge-pages.js';

describe('withHugePagesTunable', () => {
  test('adds the tunable where there is none', () => {
    expect(withHugePagesTunable({ PATH: '/bin' })).toEqual({ PATH: '/bin', GLIBC_TUNABLES: HUGE_PAGES_TUNABLE });
    expect(withHugePagesTunable({ GLIBC_TUNABLES: '' }).GLIBC_TUNABLES).toBe(HUGE_PAGES_TUNABLE);
  });

  test('keeps the operator\'s other tunables, in order', () => {
    expect(withHugePagesTunable({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES).toBe(`glibc.malloc.arena_max=2:${HUGE_PAGES_TUNABLE}`);
  });

  test('an operator\'s own hugetlb setting wins (0 turns it off)', () => {
    for (const t of ['glibc.malloc.hugetlb=0', 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2']) {
      expect(withHugePagesTunable({ GLIBC_TUNABLES: t }).GLIBC_TUNABLES).toBe(t);
    }
  });

  test('does not change the environment it is given', () => {
    const env = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' };
    withHugePagesTunable(env);
    expect(env).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' });
  });
});
