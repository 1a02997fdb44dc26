/**
 * Small loopback helpers the attacks share: free ports, one-shot TCP and UDP exchanges with a time
 * bound, and what /proc says about a process (alive, RSS, open descriptors, its UDP ports). Linux only.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';

export const LOOPBACK = '127.0.0.1';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, LOOPBACK, () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    // A zombie (exited, not reaped) still answers kill 0.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

/** Resident set size of a process in bytes (VmRSS), undefined when it is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used so far, ms; undefined when it is gone. */
export function cpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) in clock ticks of 10 ms (USER_HZ = 100 on Linux).
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of a process (sockets, files, pipes), undefined when it is gone. */
export function fdCount(pid: number): number | undefined {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return undefined;
  }
}

/** Direct children of a process (from /proc/<pid>/stat's ppid field). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The command line of a process, '' when it is gone. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
  } catch {
    return '';
  }
}

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m?.[1] !== undefined) inodes.add(m[1]);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // process gone
  }
  return inodes;
}

/** Local UDP (IPv4) ports the given processes hold. */
export function udpPortsOf(pids: readonly number[]): Set<number> {
  const inodes = new Set<string>();
  for (const pid of pids) for (const i of socketInodes(pid)) inodes.add(i);
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/net/udp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const local = f[1];
    const inode = f[9];
    if (local === undefined || inode === undefined || !inodes.has(inode)) continue;
    ports.add(parseInt(local.split(':')[1] ?? '0', 16));
  }
  return ports;
}

/**
 * TCP socket entries (any state, TIME_WAIT included) with `port` at either end: on loopback an open
 * connection shows twice (both ends), a closed one lingers once in TIME_WAIT for a minute.
 */
export function tcpConnectionsTo(port: number): number {
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, remote] = line.trim().split(/\s+/);
      const portOf = (a: string | undefined): number => parseInt(a?.split(':')[1] ?? '0', 16);
      if (portOf(local) === port || portOf(remote) === port) n++;
    }
  }
  return n;
}

/** Opens a TCP connection; rejects after `timeoutMs`. */
export function tcpConnect(port: number, timeoutMs = 3_000, host = LOOPBACK): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`connect ${host}:${port} timed out`));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export interface TcpExchange {
  /** Everything received before the end, the close or the time bound. */
  readonly data: Buffer;
  /** The peer closed (or reset) the connection within the time bound. */
  readonly closed: boolean;
}

/**
 * Sends `chunks` on a fresh connection and collects what comes back until the peer closes, `until`
 * says enough, or `timeoutMs` passes; then destroys the socket.
 */
export async function tcpExchange(
  port: number,
  chunks: readonly Uint8Array[],
  o: { timeoutMs?: number; until?: (data: Buffer) => boolean } = {},
): Promise<TcpExchange> {
  const s = await tcpConnect(port);
  const parts: Buffer[] = [];
  return new Promise((resolve) => {
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(parts), closed });
    };
    const timer = setTimeout(() => finish(false), o.timeoutMs ?? 2_000);
    s.on('data', (c: Buffer) => {
      parts.push(c);
      if (o.until?.(Buffer.concat(parts)) === true) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    for (const c of chunks) s.write(c);
  });
}

/** A UDP socket bound on loopback that collects every datagram it receives. */
export class UdpPeer {
  readonly received: { data: Buffer; port: number }[] = [];
  private constructor(readonly socket: UdpSocket) {
    socket.on('message', (data, rinfo) => this.received.push({ data, port: rinfo.port }));
    socket.on('error', () => undefined);
  }

  static async open(port = 0, host = LOOPBACK): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => resolve());
    });
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: Uint8Array | string, port: number, host = LOOPBACK): Promise<void> {
    return new Promise((resolve) => this.socket.send(data, port, host, () => resolve()));
  }

  /** Waits until a datagram matching `match` arrives (searching what came already), or undefined after `timeoutMs`. */
  async waitFor(match: (text: string) => boolean, timeoutMs: number): Promise<string | undefined> {
    const until = Date.now() + timeoutMs;
    let seen = 0;
    while (Date.now() < until) {
      for (; seen < this.received.length; seen++) {
        const text = this.received[seen]?.data.toString('latin1') ?? '';
        if (match(text)) return text;
      }
      await sleep(20);
    }
    return undefined;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

/** `fetch` with a time bound; never throws (status 0 and the error text when it fails). */
/** A property of an unknown JSON value (undefined when absent or not an object). */
export function prop(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

export async function httpRequest(
  url: string,
  init: RequestInit & { timeoutMs?: number } = {},
): Promise<{ status: number; headers: Headers; body: string; error?: string }> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 5_000) });
    return { status: res.status, headers: res.headers, body: await res.text() };
  } catch (e) {
    return { status: 0, headers: new Headers(), body: '', error: e instanceof Error ? e.message : String(e) };
  }
}
