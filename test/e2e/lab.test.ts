// `tollgate lab` (the README's main job) builds its world and every case passes: with BIRD as the
// upstream BGP router (the default) and with static routes (`--static`).
import { formatNetnsLabReport, runNetnsLab } from '../../src/gateway/lab/netns-lab.js';

test('the namespace lab with BIRD upstream: every case passes and the report shows sessions and learned routes', async () => {
  const report = await runNetnsLab(undefined, { bgp: true });
  const text = formatNetnsLabReport(report);
  for (const c of report.cases) expect(`${c.name}: ${c.ok ? 'ok' : c.detail}`).toBe(`${c.name}: ok`);
  expect(report.cases.length).toBeGreaterThanOrEqual(8);
  expect(text).toContain(`all ${report.cases.length} cases passed`);
  expect(report.bgp?.learned.length).toBeGreaterThan(0);
}, 180_000);

test('the namespace lab with static routes: every case passes and the report names them', async () => {
  const report = await runNetnsLab();
  const text = formatNetnsLabReport(report);
  expect(report.cases.map((c) => c.name)).toHaveLength(4);
  for (const c of report.cases) expect(`${c.name}: ${c.ok ? 'ok' : c.detail}`).toBe(`${c.name}: ok`);
  expect(text).toContain('all 4 cases passed');
  expect(report.agents.compute.push.entriesSent).toBeGreaterThan(0);
}, 180_000);
