/**
 * `npx tsx bench/hsm-flood.ts [--mb=512]`: memory of `fixpay hsm serve` under issue #10's
 * defect 7 — one authenticated client pipelines 8 KB echo requests and never reads the answers.
 * The server runs in a child process; the figure is its resident memory before and after, beside
 * how much the client managed to write (the server stops reading once its queues are full, so
 * TCP flow control holds the client back). Before the fix the server read everything and kept
 * every answer in memory (74 MB → 1,466 MB for 512 MB written, on the development machine).
 */
import { fork } from 'node:child_process';
import { connect } from 'node:tls';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { authProof, newNonce } from '../hsm/host-protocol/auth';
import { FieldReader, FieldWriter, frame, FrameReader } from '../hsm/host-protocol/codec';
import { startHsmServer } from '../hsm/host-protocol/server';
import { clientTlsOptions } from '../hsm/host-protocol/tls-psk';

const CLIENT = { id: 'bench', secret: Buffer.alloc(32, 7) };
const MB = Number(/^--mb=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--mb=')) ?? '')?.[1] ?? '512');
/** The client gives up writing when the server has not read for this long (it stopped reading). */
const STALL_MS = 3_000;

async function serve(): Promise<void> {
  const server = await startHsmServer({
    hsm: new SoftwareHsm({ lmk: Buffer.alloc(32, 1) }),
    port: 0,
    clients: [CLIENT],
  });
  process.on('message', () => process.send?.({ rss: process.memoryUsage().rss }));
  process.send?.({ port: server.port });
}

async function flood(): Promise<void> {
  const child = fork(__filename, ['--server'], { execArgv: ['--import', 'tsx'] });
  const ask = <T>(msg?: string): Promise<T> =>
    new Promise((resolve) => {
      child.once('message', (m) => resolve(m as T));
      if (msg !== undefined) child.send(msg);
    });
  const { port } = await ask<{ port: number }>();
  const rssMb = async (): Promise<number> => (await ask<{ rss: number }>('rss')).rss / 1_048_576;
  const s = connect({ host: '127.0.0.1', port, ...clientTlsOptions(CLIENT) });
  await new Promise((r) => s.once('secureConnect', r));
  const reader = new FrameReader(70_000);
  const next = (): Promise<string> =>
    new Promise((r) => s.once('data', (c: Buffer) => r(reader.push(c)[0]?.toString('latin1') ?? '')));
  const clientNonce = newNonce();
  s.write(frame(`0001XA${new FieldWriter().variable(CLIENT.id).bytes(clientNonce).toString()}`));
  const serverNonce = new FieldReader((await next()).slice(8)).bytes();
  const proof = authProof(CLIENT.secret, 'client', CLIENT.id, clientNonce, serverNonce);
  s.write(frame(`0002XC${new FieldWriter().bytes(proof).toString()}`));
  await next();
  s.pause();
  const before = await rssMb();
  const echo = frame(`0003B2${new FieldWriter().variable('x'.repeat(8_000)).toString()}`);
  let written = 0;
  while (written < MB * 1_048_576) {
    written += echo.length;
    if (!s.write(echo)) {
      const drained = await Promise.race([
        new Promise<boolean>((r) => s.once('drain', () => r(true))),
        new Promise<boolean>((r) => setTimeout(() => r(false), STALL_MS)),
      ]);
      if (!drained) break;
    }
  }
  await new Promise((r) => setTimeout(r, STALL_MS));
  const after = await rssMb();
  console.log(
    `client pipelined ${(written / 1_048_576).toFixed(0)} MB of ${MB} MB without reading; ` +
      `server RSS ${before.toFixed(0)} MB → ${after.toFixed(0)} MB`,
  );
  s.destroy();
  child.kill();
}

void (process.argv.includes('--server') ? serve() : flood());
