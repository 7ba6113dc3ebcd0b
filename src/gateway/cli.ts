#!/usr/bin/env node
// The `tollgate` command (DESIGN: Interfaces for people). Subcommands arrive with their issues:
// api, dash and trace are not here yet.
import { packageVersion } from './version.js';
import { parseArgs } from 'node:util';
import { runAgent } from './agent-command.js';
import { checkConfig, formatProblem } from './config/index.js';
import { formatNetnsLabReport, runNetnsLab } from './lab/netns-lab.js';
import { formatSimLabReport, runSimulatedLab } from './lab/sim-lab.js';

const USAGE = `usage: tollgate <command> [options]

commands:
  agent --config FILE   run this host's agent (compute and/or gateway roles from the YAML)
  config check FILE     validate a config file; prints each problem as FILE:LINE:COL: field: message
  lab                   build the lab world on this machine (root): ZooKeeper, three agents, VMs,
                        and BIRD as the upstream BGP router the gateways peer with over their
                        uplinks, in network namespaces; send real traffic; report, with the BGP
                        sessions and the learned routes
  lab --static          the same with static routes instead of BGP (pins the path out via gw-a
                        and back via gw-b)
  lab --simulated [--trace]
                        the same world simulated in this process (no root, no namespaces)
  version         print the version
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'agent': {
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
      if (values.config === undefined) {
        process.stderr.write('tollgate agent: --config FILE is required\n');
        return 2;
      }
      return runAgent(values.config);
    }
    case 'config': {
      const [sub, file] = rest;
      if (sub !== 'check' || file === undefined) {
        process.stderr.write('usage: tollgate config check FILE\n');
        return 2;
      }
      const result = await checkConfig(file);
      for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
      if (result.ok) console.log(`${file}: ok`);
      return result.ok ? 0 : 1;
    }
    case 'version':
      console.log(`tollgate ${packageVersion()}`);
      return 0;
    case 'lab': {
      const { values } = parseArgs({ args: rest, options: { trace: { type: 'boolean', default: false }, simulated: { type: 'boolean', default: false }, static: { type: 'boolean', default: false } } });
      if (values.simulated) {
        const report = runSimulatedLab(values.trace ? (line) => console.log(`  trace ${line}`) : undefined);
        console.log(formatSimLabReport(report));
        return report.cases.every((c) => c.ok) ? 0 : 1;
      }
      const report = await runNetnsLab((line) => console.log(`  .. ${line}`), { bgp: !values.static });
      console.log(formatNetnsLabReport(report));
      return report.cases.every((c) => c.ok) ? 0 : 1;
    }
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`tollgate: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tollgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
