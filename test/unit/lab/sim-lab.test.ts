// The simulated lab end to end: every traffic case of `tollgate lab` passes on the lab world.
import { runSimulatedLab } from '../../../src/gateway/lab/sim-lab.js';
import { buildLabTopology } from '../../../src/gateway/lab/lab-topology.js';
import { validateTopology } from '../../../src/agent-core/topology/index.js';

describe('the simulated lab', () => {
  it('builds a valid topology', () => {
    expect(validateTopology(buildLabTopology({ extraPostRoutingRules: 98 }))).toEqual([]);
  });

  it('passes every traffic case, with later packets on the fast path', () => {
    const report = runSimulatedLab();
    expect(report.cases.filter((c) => !c.ok)).toEqual([]);
    expect(report.cases.length).toBeGreaterThanOrEqual(7);
    expect(report.counters.fastPath).toBeGreaterThan(0);
    expect(report.counters.malformed).toBe(0);
  });
});
