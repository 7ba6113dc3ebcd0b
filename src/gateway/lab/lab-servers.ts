// Small servers and clients run inside the lab's namespaces with this Node binary: an HTTP server
// answering a fixed body, and a TCP echo server with a client that keeps one connection busy.
import type { ChildHandle, NetnsLab } from './netns.js';

/** An HTTP server on addr:port answering `hello from <name>`; resolves once it listens. */
export async function startHttpServer(lab: NetnsLab, ns: string, addr: string, port: number, name: string): Promise<ChildHandle> {
  const child = lab.spawnNode(ns, `
    import { createServer } from 'node:http';
    const [addr, port, name] = process.argv.slice(1);
    createServer((req, res) => res.end('hello from ' + name + '\\n')).listen(Number(port), addr, () => console.log('listening'));
  `, [addr, String(port), name]);
  await child.waitForLine((l) => l === 'listening', 10_000);
  return child;
}

/** A TCP echo server on addr:port. */
export async function startEchoServer(lab: NetnsLab, ns: string, addr: string, port: number): Promise<ChildHandle> {
  const child = lab.spawnNode(ns, `
    import { createServer } from 'node:net';
    const [addr, port] = process.argv.slice(1);
    createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(Number(port), addr, () => console.log('listening'));
  `, [addr, String(port)]);
  await child.waitForLine((l) => l === 'listening', 10_000);
  return child;
}

/**
 * A client holding one TCP connection to host:port, sending a numbered line every 100 ms and printing
 * "echo N" for each echo; "closed <why>" if the connection ends. Lives until killed.
 */
export function startEchoClient(lab: NetnsLab, ns: string, host: string, port: number): ChildHandle {
  return lab.spawnNode(ns, `
    import { connect } from 'node:net';
    const [host, port] = process.argv.slice(1);
    const s = connect(Number(port), host, () => console.log('connected'));
    let n = 0, buf = '';
    setInterval(() => s.write((n++) + '\\n'), 100);
    s.on('data', (d) => { buf += d; let i; while ((i = buf.indexOf('\\n')) >= 0) { console.log('echo ' + buf.slice(0, i)); buf = buf.slice(i + 1); } });
    s.on('error', (e) => { console.log('closed ' + e.code); process.exit(1); });
    s.on('close', () => { console.log('closed close'); process.exit(1); });
  `, [host, String(port)]);
}

/** The highest echo a client has printed so far (-1 before the first). */
export function lastEcho(client: ChildHandle): number {
  for (let i = client.lines.length - 1; i >= 0; i--) {
    const m = /^echo (\d+)$/.exec(client.lines[i]!);
    if (m !== null) return Number(m[1]);
  }
  return -1;
}
