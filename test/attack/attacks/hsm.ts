/**
 * Attacks on the network HSM (`fixpay hsm serve`, payShield-style host commands) and the in-process
 * software HSM: unauthenticated use, key export under itself, type changes through import, ECB
 * export, keys used outside their purpose, idle-connection lockout, memory growth from clients that
 * never read, malformed frames for every command. Oracle: the reply's error code (00 = done), the
 * process, its RSS and whether a fresh client is still served. The link is TLS-PSK: insiders hold a
 * client's PSK (`hsmTlsConnect`); plain-TCP attacks (`hsmCall`, floods, garbage) hit the TLS layer.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { authProof, HSM_AUTH } from '../../../hsm/host-protocol/auth';
import { FieldReader, FieldWriter, frame, KEY_TYPE_CODES } from '../../../hsm/host-protocol/codec';
import { clientTlsOptions } from '../../../hsm/host-protocol/tls-psk';
import { SoftwareHsm } from '../../../hsm/software/software-hsm';
import type { Targets } from '../targets';
import { rssBytes, sleep, tcpConnect, tcpExchange } from '../support';
import { defect, refused } from '../types';
import type { Attack, Verdict } from '../types';

const HEADER = '0001';

export interface HsmReply {
  /** Two-character error code (`00` = OK), undefined when nothing came back. */
  readonly error: string | undefined;
  /** The fields after the error code. */
  readonly fields: string;
  readonly closed: boolean;
}

/** One command on a fresh connection (header `0001`), waiting up to `timeoutMs` for the reply. */
export async function hsmCall(port: number, command: string, timeoutMs = 3_000): Promise<HsmReply> {
  let r;
  try {
    r = await tcpExchange(port, [frame(`${HEADER}${command}`)], {
      timeoutMs,
      until: (d) => d.length >= 2 && d.length >= 2 + d.readUInt16BE(0),
    });
  } catch {
    return { error: undefined, fields: '', closed: true };
  }
  if (r.data.length < 2 + HEADER.length + 4) return { error: undefined, fields: '', closed: r.closed };
  return replyOf(r.data.subarray(2).toString('latin1'), r.closed);
}

/** A TLS-PSK connection as the insider client (its PSK), before any host-protocol byte. */
export function hsmTlsConnect(ctx: Targets, timeoutMs = 3_000, socket?: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const target = socket === undefined ? { host: '127.0.0.1', port: ctx.ports.hsm } : { socket };
    const s = connectTls({ ...target, ...clientTlsOptions(ctx.hsmInsider) });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('TLS handshake timed out'));
    }, timeoutMs);
    s.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(s);
    });
    s.once('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** One command over TLS-PSK (a PSK holder) without the X* handshake; reply read as `hsmCall` does. */
async function tlsCallWithoutX(ctx: Targets, command: string, timeoutMs = 3_000): Promise<HsmReply> {
  let s: Socket;
  try {
    s = await hsmTlsConnect(ctx, timeoutMs);
  } catch {
    return { error: undefined, fields: '', closed: true };
  }
  s.on('error', () => undefined);
  const data = await new Promise<{ data: Buffer; closed: boolean }>((resolve) => {
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => resolve({ data: got, closed: false }), timeoutMs);
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        clearTimeout(timer);
        resolve({ data: got, closed: false });
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: got, closed: true });
    });
    s.write(frame(`${HEADER}${command}`));
  });
  s.destroy();
  if (data.data.length < 2 + HEADER.length + 4) return { error: undefined, fields: '', closed: data.closed };
  return replyOf(data.data.subarray(2).toString('latin1'), data.closed);
}

function replyOf(text: string, closed: boolean): HsmReply {
  return { error: text.slice(HEADER.length + 2, HEADER.length + 4), fields: text.slice(HEADER.length + 4), closed };
}

/**
 * One command from an **insider**: a client holding a valid credential (the worker's, stolen or
 * misused) authenticates first (XA/XB/XC/XD), then asks for what the key-usage policy must refuse.
 * Authentication alone must not be what stops these attacks.
 */
export async function insiderCall(ctx: Targets, command: string, timeoutMs = 3_000): Promise<HsmReply> {
  let socket;
  try {
    socket = await hsmTlsConnect(ctx, timeoutMs);
  } catch {
    return { error: undefined, fields: '', closed: true };
  }
  const s = socket;
  let buffered = Buffer.alloc(0);
  let closed = false;
  const waiters: (() => void)[] = [];
  s.on('data', (c: Buffer) => {
    buffered = Buffer.concat([buffered, c]);
    for (const w of waiters.splice(0)) w();
  });
  s.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w();
  });
  s.on('error', () => undefined);
  const next = async (): Promise<string | undefined> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const n = buffered.readUInt16BE(0);
        const text = buffered.subarray(2, 2 + n).toString('latin1');
        buffered = buffered.subarray(2 + n);
        return text;
      }
      if (closed || Date.now() > end) return undefined;
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  try {
    const { id, secret } = ctx.hsmInsider;
    const clientNonce = randomBytes(HSM_AUTH.nonceBytes);
    s.write(frame(`${HEADER}XA${new FieldWriter().variable(id).bytes(clientNonce).toString()}`));
    const hello = await next();
    if (hello === undefined) return { error: undefined, fields: '', closed };
    const xb = replyOf(hello, closed);
    if (xb.error !== '00') return { error: `XB ${xb.error ?? '-'}`, fields: '', closed };
    const serverNonce = new FieldReader(xb.fields).bytes('nonce');
    const proof = authProof(secret, 'client', id, clientNonce, serverNonce);
    s.write(frame(`${HEADER}XC${new FieldWriter().bytes(proof).toString()}`));
    const done = await next();
    if (done === undefined || replyOf(done, closed).error !== '00')
      return { error: `XD ${done === undefined ? '-' : (replyOf(done, closed).error ?? '-')}`, fields: '', closed };
    s.write(frame(`${HEADER}${command}`));
    const reply = await next();
    return reply === undefined ? { error: undefined, fields: '', closed } : replyOf(reply, closed);
  } finally {
    s.destroy();
  }
}

const varField = (text: string): string => text.length.toString(16).toUpperCase().padStart(4, '0') + text;

/** The key handle at the start of reply fields (`S` + 4-digit length block). */
function leadingKey(fields: string): string | undefined {
  if (fields[0] !== 'S') return undefined;
  const length = Number(fields.slice(2, 6));
  return Number.isInteger(length) ? fields.slice(0, 1 + length) : undefined;
}

/** Generates a key of `type` (scheme U, double-length TDES) and returns its handle, or why not. */
async function generate(ctx: Targets, type: keyof typeof KEY_TYPE_CODES): Promise<{ handle?: string; why: string }> {
  const r = await insiderCall(ctx, `A00${KEY_TYPE_CODES[type]}U`);
  const handle = r.error === '00' ? leadingKey(r.fields) : undefined;
  return handle === undefined ? { why: `A0 ${type} answered ${r.error ?? 'nothing'}` } : { handle, why: '' };
}

/** A command that must not be done: `00` is a defect; anything else (or no answer) is a refusal. */
function mustRefuse(
  id: string,
  title: string,
  build: (ctx: Targets) => Promise<{ command?: string; why: string }>,
  o: { severity?: Attack['severity']; reported?: number } = {},
): Attack {
  return {
    id,
    target: 'hsm',
    severity: o.severity ?? 'critical',
    title,
    ...(o.reported === undefined ? {} : { reported: o.reported }),
    quick: true,
    timeoutMs: 15_000,
    async run(ctx) {
      const b = await build(ctx);
      if (b.command === undefined) return refused(`could not set up: ${b.why} (the HSM refused an earlier step)`);
      const r = await insiderCall(ctx, b.command);
      if (!ctx.hsmAlive()) return defect('the HSM process died');
      if (r.error === '00') return defect(`${b.command.slice(0, 2)} done (00)`);
      return refused(`${b.command.slice(0, 2)} answered ${r.error ?? (r.closed ? 'a closed connection' : 'nothing')}`);
    },
  };
}

/** Hostile bytes for one command: must get an error reply or a close, and the process must live. */
function malformed(command: string): Attack {
  return {
    id: `hsm.malformed-${command}`,
    target: 'hsm',
    severity: 'medium',
    title: `${command} with truncated and junk fields: an error reply, no crash`,
    quick: true,
    timeoutMs: 10_000,
    async run(ctx) {
      const variants = [
        command,
        `${command}S`,
        `${command}SD9999`,
        `${command}1${'Z'.repeat(40)}`,
        `${command}${randomBytes(64).toString('latin1')}`,
        `${command}FFFF`,
      ];
      const errors: string[] = [];
      for (const v of variants) {
        const r = await insiderCall(ctx, v, 2_000);
        errors.push(r.error ?? (r.closed ? 'closed' : '-'));
        if (r.error === '00' && v !== command) return defect(`junk fields accepted: ${JSON.stringify(v.slice(0, 12))}`);
      }
      await sleep(100);
      if (!ctx.hsmAlive()) return defect('the HSM process died');
      return refused(`replies ${errors.join(',')}`);
    },
  };
}

export const hsmAttacks: Attack[] = [
  {
    id: 'hsm.unauthenticated-client',
    target: 'hsm',
    severity: 'critical',
    reported: 2,
    title:
      'a client that never authenticated sends NC and A0, over plain TCP and inside TLS-PSK without X*: the HSM must refuse it',
    quick: true,
    timeoutMs: 15_000,
    async run(ctx) {
      const nc = await hsmCall(ctx.ports.hsm, 'NC');
      const a0 = await hsmCall(ctx.ports.hsm, `A00${KEY_TYPE_CODES.TMK}U`);
      const tnc = await tlsCallWithoutX(ctx, 'NC');
      const ta0 = await tlsCallWithoutX(ctx, `A00${KEY_TYPE_CODES.TMK}U`);
      if ([nc, a0, tnc, ta0].some((r) => r.error === '00'))
        return defect(
          `unauthenticated client served: NC ${nc.error ?? '-'}, A0 ${a0.error ?? '-'}, in TLS NC ${tnc.error ?? '-'}, A0 ${ta0.error ?? '-'}`,
        );
      return refused(
        `plain TCP: NC ${nc.error ?? 'no reply'}, A0 ${a0.error ?? 'no reply'}; TLS without X*: NC ${tnc.error ?? 'no reply'}, A0 ${ta0.error ?? 'no reply'}`,
      );
    },
  },
  {
    id: 'hsm.tls-garbage-after-handshake',
    target: 'hsm',
    severity: 'medium',
    title:
      'random bytes under the TLS layer after a completed TLS-PSK handshake: that connection closes, others are served',
    quick: true,
    timeoutMs: 15_000,
    async run(ctx): Promise<Verdict> {
      let s: Socket;
      let raw: Socket;
      try {
        raw = await tcpConnect(ctx.ports.hsm);
        raw.on('error', () => undefined);
        s = await hsmTlsConnect(ctx, 3_000, raw);
      } catch (e) {
        return defect(`the insider's TLS-PSK handshake failed: ${String(e)}`);
      }
      s.on('error', () => undefined);
      const closed = new Promise<boolean>((r) => {
        s.once('close', () => r(true));
        setTimeout(() => r(false), 5_000);
      });
      raw.write(randomBytes(4_096)); // below TLS: not a valid record
      const wasClosed = await closed;
      s.destroy();
      raw.destroy();
      if (!ctx.hsmAlive()) return defect('the HSM process died');
      const r = await insiderCall(ctx, `B2${varField('ping')}`);
      if (r.error !== '00') return defect(`a fresh client was not served afterwards (${r.error ?? 'no reply'})`);
      if (!wasClosed) return defect('the HSM kept a connection open after invalid TLS records');
      return refused('connection closed by the HSM; a fresh client was served (00)');
    },
  },
  mustRefuse(
    'hsm.export-under-itself-ecb',
    'A8: export a TMK under itself in ECB (reveals it to anyone who can decrypt with it)',
    async (ctx) => {
      const tmk = await generate(ctx, 'TMK');
      return tmk.handle === undefined ? { why: tmk.why } : { command: `A8${tmk.handle}${tmk.handle}E`, why: '' };
    },
    { reported: 2 },
  ),
  mustRefuse(
    'hsm.export-under-itself-tr31',
    'A8: export a ZMK under itself as a TR-31 block',
    async (ctx) => {
      const zmk = await generate(ctx, 'ZMK');
      return zmk.handle === undefined ? { why: zmk.why } : { command: `A8${zmk.handle}${zmk.handle}R`, why: '' };
    },
    { reported: 2 },
  ),
  mustRefuse(
    'hsm.import-changes-type',
    'A6: a TMK exported under itself imported back as a TAK (type 003): an encryption oracle',
    async (ctx) => {
      const tmk = await generate(ctx, 'TMK');
      if (tmk.handle === undefined) return { why: tmk.why };
      const exported = await insiderCall(ctx, `A8${tmk.handle}${tmk.handle}E`);
      if (exported.error !== '00') return { why: `A8 answered ${exported.error ?? 'nothing'}` };
      const length = parseInt(exported.fields.slice(0, 4), 16);
      const cryptogram = exported.fields.slice(4, 4 + length);
      return { command: `A6${tmk.handle}E${varField(cryptogram)}${KEY_TYPE_CODES.TAK}U${varField('')}`, why: '' };
    },
    { reported: 2 },
  ),
  mustRefuse(
    'hsm.plant-tmk-under-tmk',
    'A6: import a chosen cryptogram as a TMK under another TMK (TMKs wrap only working keys)',
    async (ctx) => {
      const tmk = await generate(ctx, 'TMK');
      if (tmk.handle === undefined) return { why: tmk.why };
      return {
        command: `A6${tmk.handle}E${varField('0123456789ABCDEF0123456789ABCDEF')}${KEY_TYPE_CODES.TMK}U${varField('')}`,
        why: '',
      };
    },
    { reported: 2 },
  ),
  mustRefuse(
    'hsm.ecb-export-zone-key',
    'A8: export a ZPK under a ZMK in ECB (ECB is for field 62 working keys under a TMK only)',
    async (ctx) => {
      const [zpk, zmk] = await Promise.all([generate(ctx, 'ZPK'), generate(ctx, 'ZMK')]);
      if (zpk.handle === undefined || zmk.handle === undefined) return { why: zpk.why || zmk.why };
      return { command: `A8${zpk.handle}${zmk.handle}E`, why: '' };
    },
    { reported: 2, severity: 'high' },
  ),
  mustRefuse(
    'hsm.export-under-working-key',
    'A8: export a ZMK under a TAK (a MAC key used as a key-encryption key)',
    async (ctx) => {
      const [zmk, tak] = await Promise.all([generate(ctx, 'ZMK'), generate(ctx, 'TAK')]);
      if (zmk.handle === undefined || tak.handle === undefined) return { why: zmk.why || tak.why };
      return { command: `A8${zmk.handle}${tak.handle}R`, why: '' };
    },
    { reported: 2 },
  ),
  mustRefuse(
    'hsm.export-master-key-under-tmk',
    'A8: export the PBOC master key under a TMK in ECB',
    async (ctx) => {
      const [mk, tmk] = await Promise.all([generate(ctx, 'PBOC_MK'), generate(ctx, 'TMK')]);
      if (mk.handle === undefined || tmk.handle === undefined) return { why: mk.why || tmk.why };
      return { command: `A8${mk.handle}${tmk.handle}E`, why: '' };
    },
    { reported: 2 },
  ),
  mustRefuse(
    'hsm.mac-with-tmk',
    'M6: generate a MAC with a TMK (a key-encryption key used as a MAC key)',
    async (ctx) => {
      const tmk = await generate(ctx, 'TMK');
      return tmk.handle === undefined
        ? { why: tmk.why }
        : { command: `M631${tmk.handle}${varField('00'.repeat(16))}`, why: '' };
    },
    { reported: 2, severity: 'high' },
  ),
  mustRefuse(
    'hsm.export-session-key',
    'Y0 then A8: export a PSAM per-transaction session key (never exportable)',
    async (ctx) => {
      const [mk, zmk] = await Promise.all([generate(ctx, 'PBOC_MK'), generate(ctx, 'ZMK')]);
      if (mk.handle === undefined || zmk.handle === undefined) return { why: mk.why || zmk.why };
      const y0 = await insiderCall(ctx, `Y0${mk.handle}1A1B2C3D4E5F6000112345678ABCD`);
      const session = y0.error === '00' ? leadingKey(y0.fields) : undefined;
      if (session === undefined) return { why: `Y0 answered ${y0.error ?? 'nothing'}` };
      return { command: `A8${session}${zmk.handle}R`, why: '' };
    },
    { severity: 'high' },
  ),
  {
    id: 'hsm.software-export-under-itself',
    target: 'hsm',
    severity: 'critical',
    reported: 2,
    title: 'the in-process software HSM: export a TMK under itself in ECB, then import it back as a TAK',
    quick: true,
    timeoutMs: 10_000,
    async run(): Promise<Verdict> {
      const hsm = new SoftwareHsm({ lmk: randomBytes(32) });
      const tmk = await hsm.generateKey({ type: 'TMK', algorithm: 'tdes2' });
      let cryptogram: string;
      try {
        cryptogram = (await hsm.exportKey({ key: tmk.handle, kek: tmk.handle, scheme: 'ecb' })).cryptogram;
      } catch (e) {
        return refused(`export refused: ${e instanceof Error ? e.message : String(e)}`);
      }
      try {
        await hsm.importKey({ kek: tmk.handle, scheme: 'ecb', cryptogram, type: 'TAK', algorithm: 'tdes2' });
      } catch {
        return defect('exported a TMK under itself in ECB (the import as a TAK was refused)');
      }
      return defect('exported a TMK under itself in ECB and imported it back as a TAK');
    },
  },
  {
    id: 'hsm.idle-lockout',
    target: 'hsm',
    severity: 'medium',
    reported: 7,
    title: '64 connections sending 2 bytes each, then silence: idle/frame timeouts must free them within 20 s',
    timeoutMs: 40_000,
    async run(ctx): Promise<Verdict> {
      const sockets = [];
      let closedByServer = 0;
      try {
        for (let i = 0; i < 64; i++) {
          try {
            const s = await tcpConnect(ctx.ports.hsm, 2_000);
            s.on('error', () => undefined);
            s.on('close', () => closedByServer++);
            s.write(Buffer.from([0x00, 0x10]));
            sockets.push(s);
          } catch {
            break;
          }
        }
        const until = Date.now() + 20_000;
        while (Date.now() < until) {
          await sleep(1_000);
          const probe = await insiderCall(ctx, `B2${varField('ping')}`, 1_000);
          if (probe.error === '00' && closedByServer > 0)
            return refused(
              `${closedByServer} idle connections closed by the HSM; a fresh client served (${probe.error})`,
            );
        }
        if (!ctx.hsmAlive()) return defect('the HSM process died');
        return defect(
          `${sockets.length} idle connections held for 20 s; ${closedByServer} closed; fresh clients locked out`,
        );
      } finally {
        for (const s of sockets) s.destroy();
      }
    },
  },
  {
    id: 'hsm.pipeline-never-read',
    target: 'hsm',
    severity: 'medium',
    reported: 7,
    title: 'a client pipelining 60 KB echo requests and never reading: backpressure must cap the HSM memory',
    timeoutMs: 40_000,
    async run(ctx): Promise<Verdict> {
      const pid = ctx.hsm?.pid ?? 0;
      const before = rssBytes(pid) ?? 0;
      let s;
      try {
        // A PSK holder that never runs X*: the worst the TLS layer lets through.
        s = await hsmTlsConnect(ctx);
      } catch (e) {
        return refused(`no connection: ${String(e)}`);
      }
      s.on('error', () => undefined);
      s.pause(); // never read
      const echo = frame(`${HEADER}B2${varField('A'.repeat(60_000))}`);
      let sent = 0;
      let peak = before;
      const until = Date.now() + 12_000;
      try {
        while (Date.now() < until && sent < 8_000 && !s.destroyed) {
          if (!s.write(echo)) {
            await Promise.race([new Promise((r) => s.once('drain', r)), sleep(250)]);
          }
          sent++;
          if (sent % 100 === 0) peak = Math.max(peak, rssBytes(pid) ?? 0);
        }
        await sleep(1_000);
        peak = Math.max(peak, rssBytes(pid) ?? 0);
      } finally {
        s.destroy();
      }
      const grewMb = (peak - before) / 1e6;
      if (!ctx.hsmAlive()) return defect(`the HSM process died after ${sent} requests`);
      if (grewMb > 200)
        return defect(
          `HSM RSS grew ${grewMb.toFixed(0)} MB (${(before / 1e6).toFixed(0)} → ${(peak / 1e6).toFixed(0)} MB) from one client that never reads`,
        );
      return refused(`${sent} requests written; RSS grew ${grewMb.toFixed(0)} MB`);
    },
  },
  {
    id: 'hsm.connection-flood',
    target: 'hsm',
    severity: 'medium',
    title: '300 connections at once, then closed: the HSM survives and serves again',
    quick: true,
    timeoutMs: 20_000,
    async run(ctx): Promise<Verdict> {
      const sockets = await Promise.all(
        Array.from({ length: 300 }, () => tcpConnect(ctx.ports.hsm, 3_000).catch(() => undefined)),
      );
      for (const s of sockets) s?.on('error', () => undefined);
      for (const s of sockets) s?.destroy();
      await sleep(500);
      if (!ctx.hsmAlive()) return defect('the HSM process died');
      const r = await insiderCall(ctx, `B2${varField('ping')}`);
      if (r.error !== '00') return defect(`a fresh client was not served after the flood (${r.error ?? 'no reply'})`);
      return refused('a fresh client was served (00)');
    },
  },
  {
    id: 'hsm.garbage-stream',
    target: 'hsm',
    severity: 'medium',
    title: '64 KB of random bytes, then a 65 535-byte frame of junk',
    quick: false,
    timeoutMs: 15_000,
    async run(ctx): Promise<Verdict> {
      await tcpExchange(ctx.ports.hsm, [randomBytes(65_536)], { timeoutMs: 1_000 }).catch(() => undefined);
      const big = Buffer.alloc(2 + 0xffff, 0x5a);
      big.writeUInt16BE(0xffff, 0);
      await tcpExchange(ctx.ports.hsm, [big], { timeoutMs: 1_000 }).catch(() => undefined);
      await tcpExchange(ctx.ports.hsm, [Buffer.from([0x00, 0x02, 0x30, 0x30])], { timeoutMs: 500 }).catch(
        () => undefined,
      );
      await sleep(200);
      if (!ctx.hsmAlive()) return defect('the HSM process died');
      return refused('HSM up');
    },
  },
  {
    id: 'hsm.unknown-command',
    target: 'hsm',
    severity: 'low',
    title: 'an unknown command code: ZZ68 or a refusal, never a crash',
    quick: true,
    timeoutMs: 5_000,
    async run(ctx): Promise<Verdict> {
      const r = await insiderCall(ctx, 'Q9hello');
      if (!ctx.hsmAlive()) return defect('the HSM process died');
      if (r.error === '00') return defect('an unknown command answered 00');
      return refused(`answered ${r.error ?? 'nothing'}`);
    },
  },
  ...[
    'NC',
    'B2',
    'A0',
    'A4',
    'A6',
    'A8',
    'BU',
    'M6',
    'M8',
    'CA',
    'CC',
    'G0',
    'GW',
    'JC',
    'JE',
    'BC',
    'BE',
    'Y0',
    'Y2',
  ].map(malformed),
];
