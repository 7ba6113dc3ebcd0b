#!/usr/bin/env node
// The `tollgate` command (DESIGN: Interfaces for people). Subcommands arrive with their issues:
// agent, api, dash, config check and trace are not here yet.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatSimLabReport, runSimulatedLab } from './lab/sim-lab.js';

const USAGE = `usage: tollgate <command> [options]

commands:
  lab [--trace]   build the lab world and send traffic through it; today this is the simulated
                  lab: one agent's packet workflow in this process, with VMs and upstream
                  routers answering ARP and ping around it (no namespaces yet)
  version         print the version
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  switch (command) {
    case 'version':
      console.log(`tollgate ${version()}`);
      return 0;
    case 'lab': {
      const { values } = parseArgs({ args: rest, options: { trace: { type: 'boolean', default: false } } });
      const report = runSimulatedLab(values.trace ? (line) => console.log(`  trace ${line}`) : undefined);
      console.log(formatSimLabReport(report));
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

process.exitCode = main(process.argv.slice(2));
