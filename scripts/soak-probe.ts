/**
 * What the soak (`scripts/soak.ts`) reads from inside the `fixpay dev` process without changing it:
 * the process is started with `--inspect` on a loopback port and a small Chrome DevTools Protocol
 * client evaluates `process.memoryUsage()`, the active handles and resources, V8's heap statistics
 * and the size of every live WebAssembly memory (the embedded PGlite's heap is one). Loopback only;
 * the inspector port is a free ephemeral one and lives as long as the soak.
 */

/** One sample of the Node process's own view of its memory. */
export interface NodeSample {
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly heapTotalMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
  /** `process._getActiveHandles().length`: sockets, servers, timers with a handle, child processes. */
  readonly activeHandles: number;
  /** `process.getActiveResourcesInfo()` counted by kind (Timeout, TCPSocketWrap, …). */
  readonly resources: Readonly<Record<string, number>>;
  /** Sizes of the live `WebAssembly.Memory` objects, largest first, MB (PGlite's heap among them). */
  readonly wasmMemoriesMb: readonly number[];
}

interface CdpReply {
  readonly id?: number;
  readonly result?: { readonly result?: { readonly value?: unknown; readonly objectId?: string } };
  readonly error?: { readonly message: string };
}

const MB = 1e6;

/** The expression evaluated in the inspected process (its global scope, command-line API on). */
const MEMORY_EXPRESSION = `(() => {
  const m = process.memoryUsage();
  const resources = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  return {
    rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external,
    arrayBuffers: m.arrayBuffers, activeHandles: process._getActiveHandles().length, resources,
  };
})()`;

/** A Chrome DevTools Protocol session with one inspected Node process. */
export class InspectorProbe {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: CdpReply) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener('message', (event: MessageEvent) => {
      const reply = JSON.parse(String(event.data)) as CdpReply;
      if (reply.id === undefined) return;
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  /** Connects to the first target of the inspector at `port`. Throws when there is none. */
  static async connect(port: number, host = '127.0.0.1'): Promise<InspectorProbe> {
    const list = (await (await fetch(`http://${host}:${port}/json/list`)).json()) as {
      webSocketDebuggerUrl?: string;
    }[];
    const url = list[0]?.webSocketDebuggerUrl;
    if (url === undefined) throw new Error(`no inspector target on ${host}:${port}`);
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`inspector ${url} refused the connection`)), {
        once: true,
      });
    });
    return new InspectorProbe(socket);
  }

  private send(method: string, params: Record<string, unknown>, timeoutMs = 30_000): Promise<CdpReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.error !== undefined) reject(new Error(`${method}: ${reply.error.message}`));
        else resolve(reply);
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  private async evaluate(expression: string): Promise<unknown> {
    const reply = await this.send('Runtime.evaluate', {
      expression,
      returnByValue: true,
      includeCommandLineAPI: true,
      silent: true,
    });
    return reply.result?.result?.value;
  }

  /**
   * Sizes of all live WebAssembly memories. `Runtime.queryObjects` walks the heap (it collects
   * garbage first), so it costs a full GC each time: sample it no more often than the soak's interval.
   */
  async wasmMemoriesMb(): Promise<number[]> {
    const proto = await this.send('Runtime.evaluate', { expression: 'WebAssembly.Memory.prototype' });
    const protoId = proto.result?.result?.objectId;
    if (protoId === undefined) return [];
    const found = await this.send('Runtime.queryObjects', { prototypeObjectId: protoId, objectGroup: 'soak' });
    const arrayId = (found.result as { objects?: { objectId?: string } } | undefined)?.objects?.objectId;
    if (arrayId === undefined) return [];
    const sizes = await this.send('Runtime.callFunctionOn', {
      objectId: arrayId,
      functionDeclaration: 'function () { return this.map((m) => m.buffer.byteLength); }',
      returnByValue: true,
    });
    await this.send('Runtime.releaseObjectGroup', { objectGroup: 'soak' });
    const value = sizes.result?.result?.value;
    return Array.isArray(value) ? value.map((b) => Number(b) / MB).sort((a, b) => b - a) : [];
  }

  /** One sample; throws when the process does not answer. */
  async sample(): Promise<NodeSample> {
    const wasm = await this.wasmMemoriesMb();
    const m = (await this.evaluate(MEMORY_EXPRESSION)) as {
      rss: number;
      heapUsed: number;
      heapTotal: number;
      external: number;
      arrayBuffers: number;
      activeHandles: number;
      resources: Record<string, number>;
    };
    return {
      rssMb: m.rss / MB,
      heapUsedMb: m.heapUsed / MB,
      heapTotalMb: m.heapTotal / MB,
      externalMb: m.external / MB,
      arrayBuffersMb: m.arrayBuffers / MB,
      activeHandles: m.activeHandles,
      resources: m.resources,
      wasmMemoriesMb: wasm,
    };
  }

  /** Writes a heap snapshot of the inspected process to `file` (a `.heapsnapshot` for DevTools). */
  async heapSnapshot(file: string): Promise<void> {
    const { createWriteStream } = await import('node:fs');
    const out = createWriteStream(file);
    const onChunk = (event: MessageEvent): void => {
      const msg = JSON.parse(String(event.data)) as { method?: string; params?: { chunk?: string } };
      if (msg.method === 'HeapProfiler.addHeapSnapshotChunk') out.write(msg.params?.chunk ?? '');
    };
    this.socket.addEventListener('message', onChunk);
    try {
      await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false }, 300_000);
    } finally {
      this.socket.removeEventListener('message', onChunk);
      await new Promise<void>((resolve) => out.end(resolve));
    }
  }

  close(): void {
    this.socket.close();
  }
}
