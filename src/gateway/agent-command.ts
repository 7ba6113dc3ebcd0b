// `tollgate agent --config FILE` (DESIGN: Processes): loads and checks the YAML config, starts the
// agent, and stops it cleanly on SIGTERM/SIGINT (ephemeral store state removed, flow state saved).
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Agent, type AgentOptions } from '../agent-core/agent/agent.js';
import { TopologyStore } from '../agent-core/store/index.js';
import { ConfigError, loadConfig, type TollgateConfig } from './config/index.js';
import { BgpGateway } from './bgp/bgp-gateway.js';
import { startMainLoopWatchdog } from './main-loop-watchdog.js';
import { packageVersion } from './version.js';
import { reconcileUplinks } from './uplinks.js';

/** The agent's optional roles, replaced on reload. */
interface Roles {
  bgp: BgpGateway | undefined;
}

/** Every port this host binds: the configured bindings and the uplinks' ports. */
export function bindingsOf(config: TollgateConfig): { portId: string; ifname: string; netns?: string }[] {
  return [
    ...config.bindings.map((b) => ({ portId: b.port, ifname: b.interface, netns: b.netns })),
    ...config.uplinks.map((u) => ({ portId: u.port.id, ifname: u.interface, netns: u.netns })),
  ];
}

/** The agent's options from its config; uplink ports are bound once reconciled into the store (bindUplinks). */
export function agentOptionsOf(config: TollgateConfig, logger: Logger): AgentOptions {
  const bindings = config.bindings.map((b) => ({ portId: b.port, ifname: b.interface, netns: b.netns }));
  return {
    hostId: config.host.id,
    agentVersion: packageVersion(),
    tunnelIp: config.host.tunnelIp,
    zookeeper: { connectionString: config.zookeeper.servers.join(','), root: config.zookeeper.root, sessionTimeoutMs: config.zookeeper.sessionTimeoutMs },
    tunnel: { type: config.tunnel.type, port: config.tunnel.port, bindAddress: config.tunnel.bindAddress },
    bindings,
    flowState: {
      push: config.flowState.push,
      clusterKey: config.flowState.clusterKey,
      stateFile: join(config.flowState.stateDir, `${config.host.id}.flow-state.json`),
    },
    logger,
  };
}

export async function runAgent(configPath: string): Promise<number> {
  let config: TollgateConfig;
  try {
    config = await loadConfig(configPath);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const logger = pino({ name: 'tollgate', level: config.logging.level }, pino.destination(2)).child({ host: config.host.id });
  let agent: Agent;
  // Set once the agent runs: a datapath that died stops the process (see below).
  let datapathFailed: (err: Error) => void = () => undefined;
  try {
    agent = await Agent.start({ ...agentOptionsOf(config, logger), onDatapathFailure: (err) => datapathFailed(err) });
  } catch (err) {
    logger.fatal({ err }, 'agent could not start');
    return 1;
  }
  try {
    await bindUplinks(agent, config, logger);
  } catch (err) {
    logger.fatal({ err }, 'uplinks could not be set up');
    await agent.stop().catch(() => undefined);
    return 1;
  }
  const roles: Roles = { bgp: undefined };
  try {
    roles.bgp = await BgpGateway.start(agent, config, logger);
  } catch (err) {
    logger.fatal({ err }, `the BGP role could not start: ${(err as Error).message}`);
    await agent.stop().catch(() => undefined);
    return 1;
  }
  // From here a hung main loop kills the process (see main-loop-watchdog.ts).
  const watchdog = config.watchdog.enabled ? startMainLoopWatchdog({ stallMs: config.watchdog.stallMs, name: config.host.id }) : undefined;
  // A line on stdout when ready: scripts and tests wait for it.
  process.stdout.write(`tollgate agent ${config.host.id} ready\n`);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string, code = 0): void => {
      if (stopping) return;
      stopping = true;
      watchdog?.stop();
      logger.info({ signal }, 'stopping');
      // gobgpd goes first: peers see a Cease and withdraw while the datapath still forwards.
      const bgpStopped = roles.bgp?.stop() ?? Promise.resolve();
      bgpStopped.then(() => agent.stop()).then(
        () => {
          // Whatever handle a library leaves open must not keep a stopped agent alive.
          setTimeout(() => process.exit(code), 2000).unref();
          resolve(code);
        },
        (err: unknown) => {
          logger.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    // SIGUSR2 prints the agent's counters as one JSON line (until the REST API serves them).
    process.on('SIGUSR2', () => {
      void Promise.all([agent.datapath.stats(), roles.bgp?.status()]).then(([datapath, bgp]) => {
        process.stdout.write(`${JSON.stringify({ status: { ...agent.status(), datapath, ...(bgp !== undefined && { bgp }) } })}\n`);
      });
    });
    // SIGHUP re-reads the config and applies what can change at run time: bindings, uplinks, BGP.
    let reloading: Promise<void> = Promise.resolve();
    process.on('SIGHUP', () => {
      reloading = reloading.then(() => reload(configPath, agent, roles, logger));
    });
    // A host whose datapath died forwards nothing: it must not keep its BGP sessions (peers would
    // keep sending to it) nor its ZooKeeper session (others would keep tunnelling to it). Stop, BGP
    // first, and exit non-zero for the service manager to restart the agent.
    datapathFailed = (err) => {
      logger.fatal({ err }, 'the datapath died: stopping (BGP first) so that peers and other hosts route around this host');
      stop('datapath failure', 1);
    };
    // Fault injection for the end-to-end tests only (never set in a service unit).
    const fault = process.env.TOLLGATE_TEST_FAULTS;
    if (fault === 'datapath-crash-on-sigwinch') process.on('SIGWINCH', () => agent.simulateDatapathCrash());
    if (fault === 'main-loop-hang-on-sigwinch') process.on('SIGWINCH', hangMainLoop);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** A main loop that never turns again (test fault): what a deadlock or a runaway loop looks like from outside. */
function hangMainLoop(): void {
  const spin = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(spin, 0, 0, 1000);
}

/** Binds ports added to the config and unbinds those removed, then reloads the BGP role; other changes need a restart. */
async function reload(configPath: string, agent: Agent, roles: Roles, logger: Logger): Promise<void> {
  let config: TollgateConfig;
  try {
    config = await loadConfig(configPath);
  } catch (e) {
    logger.error({ problems: e instanceof ConfigError ? e.problems : undefined, err: e instanceof ConfigError ? undefined : e }, 'reload: the config has problems; nothing changed');
    return;
  }
  try {
    await reconcileUplinks(new TopologyStore(agent.zk, { root: config.zookeeper.root }), config.uplinks, config.host.id);
  } catch (err) {
    logger.error({ err }, 'reload: reconciling the uplinks failed; bindings are applied anyway');
  }
  const wanted = bindingsOf(config);
  const current = new Map(agent.bindings.all().map((b) => [b.portId, b]));
  const same = (b: { ifname: string; netns?: string }, w: { ifname: string; netns?: string }): boolean => b.ifname === w.ifname && b.netns === w.netns;
  for (const b of current.values()) {
    const w = wanted.find((x) => x.portId === b.portId);
    if (w === undefined || !same(b, w)) await agent.unbindPort(b.portId).catch((err: unknown) => logger.error({ err, port: b.portId }, 'reload: unbinding failed'));
  }
  for (const w of wanted) {
    const b = agent.bindings.ofPort(w.portId);
    if (b !== undefined) continue;
    await agent.bindPort(w.portId, w.ifname, w.netns).catch((err: unknown) => logger.error({ err, port: w.portId, ifname: w.ifname }, 'reload: binding failed'));
  }
  await reloadBgp(agent, roles, config, logger);
  logger.info({ bindings: agent.bindings.all().length }, 'reloaded the config');
  process.stdout.write(`tollgate agent reloaded ${agent.bindings.all().length} bindings\n`);
}

/** The BGP role follows the config: started, reloaded as a difference, restarted, or stopped. */
async function reloadBgp(agent: Agent, roles: Roles, config: TollgateConfig, logger: Logger): Promise<void> {
  try {
    const current = roles.bgp;
    if (current !== undefined && config.bgp !== undefined && current.canReload(config)) {
      const result = await current.reload(config);
      logger.info({ result: typeof result === 'string' ? result : { added: result.add.length, removed: result.remove.length, replaced: result.replace.length, tuned: result.tune.length, unchanged: result.unchanged.length } }, 'reload: BGP applied');
      return;
    }
    if (current !== undefined) {
      logger.warn(config.bgp === undefined ? 'reload: the bgp section is gone: stopping the BGP role' : 'reload: gobgpd\'s namespace, listen port, binary or socket changed: restarting the BGP role');
      roles.bgp = undefined;
      await current.stop();
    }
    roles.bgp = await BgpGateway.start(agent, config, logger);
  } catch (err) {
    logger.error({ err }, `reload: the BGP role failed: ${(err as Error).message}`);
  }
}

/** Uplinks into the store (port, binding, ingress set), then their ports bound here. */
async function bindUplinks(agent: Agent, config: TollgateConfig, logger: Logger): Promise<void> {
  if (config.uplinks.length === 0) return;
  const r = await reconcileUplinks(new TopologyStore(agent.zk, { root: config.zookeeper.root }), config.uplinks, config.host.id);
  logger.info({ ports: r.portsWritten, ingressSets: r.groupsWritten }, 'uplinks reconciled into the store');
  for (const u of config.uplinks) await agent.bindPort(u.port.id, u.interface, u.netns);
}
