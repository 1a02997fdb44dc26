/**
 * Attacks on the TCP PCM line driver: malformed messages, oversized lengths, silence instead of
 * HELLO, half-open connection churn. Oracle: the connection is closed or refused, the process stays
 * up, descriptors do not leak, and a legitimate HELLO is still answered.
 */
import { randomBytes } from 'node:crypto';
import { encodeTcpPcm, TCP_PCM_TYPE } from '../../../channel-engine/lines/tcp-pcm';
import type { Targets } from '../targets';
import { fdCount, sleep, tcpConnect, tcpExchange } from '../support';
import { defect, refused } from '../types';
import type { Attack, Verdict } from '../types';

/** A HELLO from a plausible caller is answered (ANSWER) on a fresh connection. */
export async function tcpPcmAnswers(ctx: Targets): Promise<boolean> {
  try {
    const r = await tcpExchange(ctx.ports.tcpPcm, [encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('057188880000'))], {
      timeoutMs: 3_000,
      until: (d) => d[0] === TCP_PCM_TYPE.answer || d[0] === TCP_PCM_TYPE.reject,
    });
    return r.data[0] === TCP_PCM_TYPE.answer;
  } catch {
    return false;
  }
}

async function afterwards(ctx: Targets, what: string): Promise<Verdict> {
  await sleep(300);
  if (!ctx.platformAlive()) return defect(`the platform process died (${what})`);
  if (!(await tcpPcmAnswers(ctx))) return defect(`TCP PCM stopped answering a legitimate HELLO (${what})`);
  return refused(what);
}

/** Sends bytes; the peer must close the connection (or refuse) and the process survive. */
function mustClose(id: string, title: string, bytes: () => Uint8Array[], timeoutMs = 3_000, mustRefuse = true): Attack {
  return {
    id,
    target: 'tcp-pcm',
    severity: 'high',
    title,
    // Attacks that wait out a server timeout are for the full run.
    quick: timeoutMs <= 3_000,
    timeoutMs: timeoutMs + 8_000,
    async run(ctx) {
      const r = await tcpExchange(ctx.ports.tcpPcm, bytes(), {
        timeoutMs,
        until: (d) => d.includes(TCP_PCM_TYPE.reject),
      });
      const refusedIt = r.closed || r.data[0] === TCP_PCM_TYPE.reject;
      if (!refusedIt && mustRefuse) {
        const v = await afterwards(ctx, 'connection left open');
        return v.verdict === 'defect'
          ? v
          : defect(`the connection stayed open after hostile input (${r.data.length} bytes back)`);
      }
      return afterwards(ctx, 'closed or refused');
    },
  };
}

export const tcpPcmAttacks: Attack[] = [
  mustClose('tcp-pcm.garbage', '4 000 random bytes instead of a HELLO', () => [randomBytes(4_000)]),
  mustClose('tcp-pcm.oversize-length', 'a message announcing 65 535 body bytes', () => [
    Buffer.from([TCP_PCM_TYPE.audio, 0xff, 0xff]),
    Buffer.alloc(1_000),
  ]),
  mustClose('tcp-pcm.audio-before-hello', 'AUDIO before any HELLO', () => [
    encodeTcpPcm(TCP_PCM_TYPE.audio, Buffer.alloc(320)),
  ]),
  mustClose('tcp-pcm.hello-hostile-caller', 'HELLO whose caller number is 2 000 letters and NULs', () => [
    encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('A\0'.repeat(1000))),
  ]),
  mustClose(
    'tcp-pcm.unknown-type',
    'a message of unknown type 0x7f after HELLO (ignored or closed; the process survives)',
    () => [encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('057188880000')), encodeTcpPcm(0x7f, Buffer.alloc(10))],
    1_000,
    false,
  ),
  mustClose('tcp-pcm.silent-connection', 'connect and send nothing: the HELLO timeout must close it', () => [], 9_000),
  {
    id: 'tcp-pcm.odd-audio',
    target: 'tcp-pcm',
    severity: 'medium',
    title: 'HELLO then AUDIO with odd byte counts and full-scale noise, then BYE',
    quick: true,
    timeoutMs: 10_000,
    async run(ctx) {
      await tcpExchange(
        ctx.ports.tcpPcm,
        [
          encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('057188880000')),
          ...Array.from({ length: 50 }, (_, i) => encodeTcpPcm(TCP_PCM_TYPE.audio, randomBytes(1 + ((i * 37) % 3999)))),
          encodeTcpPcm(TCP_PCM_TYPE.bye),
        ],
        { timeoutMs: 2_000 },
      );
      return afterwards(ctx, 'noise absorbed');
    },
  },
  {
    id: 'tcp-pcm.dribble',
    target: 'tcp-pcm',
    severity: 'low',
    title: 'a HELLO sent one byte every 30 ms',
    quick: true,
    timeoutMs: 10_000,
    async run(ctx) {
      const s = await tcpConnect(ctx.ports.tcpPcm);
      s.on('error', () => undefined);
      for (const b of encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('057188880000'))) {
        s.write(Buffer.from([b]));
        await sleep(30);
      }
      s.destroy();
      return afterwards(ctx, 'dribbled HELLO handled');
    },
  },
  {
    id: 'tcp-pcm.half-open-churn',
    target: 'tcp-pcm',
    severity: 'medium',
    title: '300 connections that send HELLO and vanish: descriptors must not leak',
    quick: false,
    timeoutMs: 30_000,
    async run(ctx): Promise<Verdict> {
      const pid = ctx.platform?.pid ?? 0;
      const before = fdCount(pid) ?? 0;
      for (let i = 0; i < 300; i++) {
        try {
          const s = await tcpConnect(ctx.ports.tcpPcm);
          s.on('error', () => undefined);
          s.write(encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('057188880000')));
          s.destroy();
        } catch {
          // refused under load is fine
        }
      }
      await sleep(3_000);
      const after = fdCount(pid) ?? 0;
      if (after - before > 100) return defect(`descriptors of the platform grew from ${before} to ${after}`);
      return afterwards(ctx, `descriptors ${before} → ${after}`);
    },
  },
];
