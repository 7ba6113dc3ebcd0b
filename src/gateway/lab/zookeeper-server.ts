// Starts and stops a real ZooKeeper (Debian's `zookeeper` package) for `tollgate lab`, integration tests and
// benchmarks: standalone, on a free loopback port, with a temporary dataDir (STACK-NOTES: ZooKeeper).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const CLASSPATH = `${ZOOKEEPER_JAR}:/usr/share/java/slf4j-simple.jar`;

export interface ZooKeeperOptions {
  /** ms; sessions may last 2..20 ticks unless maxSessionTimeout says otherwise. */
  readonly tickTime?: number;
  readonly maxSessionTimeout?: number;
  readonly startTimeoutMs?: number;
}

export interface ZooKeeperServer {
  readonly host: string;
  readonly port: number;
  readonly connectionString: string;
  readonly dataDir: string;
  /** PID of the running server, undefined while stopped. */
  readonly pid: number | undefined;
  /** SIGKILL by PID (a crash): the data stays for restart(). */
  kill(): Promise<void>;
  /** Starts it again on the same port and dataDir. */
  restart(): Promise<void>;
  /** Kills it and removes its directory. Safe to call twice and after a failed start. */
  stop(): Promise<void>;
  /** The server's log, for failure messages. */
  log(): string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) if (p.pid !== undefined) try { process.kill(p.pid, 'SIGKILL'); } catch { /* already gone */ }
});

export function zookeeperInstalled(): boolean {
  return existsSync(ZOOKEEPER_JAR);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Sends a four-letter command and returns the answer ('' when nothing listens). */
export function fourLetter(port: number, cmd: string, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    let out = '';
    sock.setTimeout(1000, () => sock.destroy());
    sock.on('connect', () => sock.write(cmd));
    sock.on('data', (d) => (out += d.toString()));
    sock.on('error', () => resolve(''));
    sock.on('close', () => resolve(out));
  });
}

export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperServer> {
  if (!zookeeperInstalled()) throw new Error(`${ZOOKEEPER_JAR} is missing: apt-get install -y zookeeper`);
  const host = '127.0.0.1';
  const port = await freePort();
  const base = mkdtempSync(join(tmpdir(), 'tollgate-zk-'));
  const dataDir = join(base, 'data');
  const cfg = join(base, 'zoo.cfg');
  const logFile = join(base, 'zookeeper.log');
  const tickTime = options.tickTime ?? 200;
  writeFileSync(
    cfg,
    [
      `tickTime=${tickTime}`,
      `dataDir=${dataDir}`,
      `clientPort=${port}`,
      `clientPortAddress=${host}`,
      `maxSessionTimeout=${options.maxSessionTimeout ?? 60_000}`,
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr,stat,mntr',
      'maxClientCnxns=0',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    const fd = openSync(logFile, 'a');
    child = spawn(
      'java',
      ['-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Dzookeeper.jmx.log4j.disable=true', '-cp', CLASSPATH, 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    running.add(child);
    const me = child;
    me.once('exit', () => running.delete(me));
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (me.exitCode !== null) throw new Error(`ZooKeeper exited with ${me.exitCode}:\n${readLog()}`);
      if ((await fourLetter(port, 'ruok')) === 'imok') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`ZooKeeper on ${host}:${port} did not answer ruok in time:\n${readLog()}`);
  };

  const readLog = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '');

  const kill = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      return;
    }
    await exited;
    // The port is free once the process is gone; wait until nothing answers on it.
    while ((await fourLetter(port, 'ruok')) === 'imok') await new Promise((r) => setTimeout(r, 50));
  };

  const server: ZooKeeperServer = {
    host,
    port,
    connectionString: `${host}:${port}`,
    dataDir,
    get pid() {
      return child?.pid;
    },
    kill,
    restart: launch,
    async stop() {
      await kill();
      rmSync(base, { recursive: true, force: true });
    },
    log: readLog,
  };
  try {
    await launch();
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}
