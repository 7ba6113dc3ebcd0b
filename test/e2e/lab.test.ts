// `tollgate lab` (the README's main job) builds its world and every case passes.
import { formatNetnsLabReport, runNetnsLab } from '../../src/gateway/lab/netns-lab.js';

test('the namespace lab: every case passes and the report names them', async () => {
  const report = await runNetnsLab();
  const text = formatNetnsLabReport(report);
  expect(report.cases.map((c) => c.name)).toHaveLength(4);
  for (const c of report.cases) expect(`${c.name}: ${c.ok ? 'ok' : c.detail}`).toBe(`${c.name}: ok`);
  expect(text).toContain('all 4 cases passed');
  expect(report.agents.compute.push.entriesSent).toBeGreaterThan(0);
}, 180_000);
