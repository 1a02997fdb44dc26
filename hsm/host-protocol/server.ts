/**
 * The `fixpay hsm` server: payShield-style host commands over TCP, executed by any `HsmPort`
 * (the software HSM in practice). One message at a time per connection, answered in order, with
 * the request header echoed. Unknown commands get `ZZ` + error 68; malformed ones error 15/F7.
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { isFixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { maskDeep, scrubText } from '../../domain/masking';
import type { HsmPort, KeyHandle, LmkPin, MacPaddingMethod } from '../port';
import {
  ALGORITHM_CODES,
  decodeFrom,
  errorCodeFor,
  FieldReader,
  FieldWriter,
  frame,
  FrameReader,
  HOST_PROTOCOL_DEFAULTS,
  KEY_TYPE_CODES,
  MAC_ALGORITHM_CODES,
  PIN_FORMAT_CODES,
  responseCode,
} from './codec';

/** Minimal logger shape (infra/logging's pino logger fits). */
export interface HsmServerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface HsmServerOptions {
  readonly hsm: HsmPort;
  readonly host?: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly headerLength?: number;
  readonly messageBytesMax?: number;
  /** Open connections at once; more are refused. */
  readonly connectionsMax?: number;
  readonly logger?: HsmServerLogger;
}

export interface RunningHsmServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export const HSM_SERVER_DEFAULTS = { host: '127.0.0.1', connectionsMax: 64 } as const;

const key = (r: FieldReader): KeyHandle => r.key() as KeyHandle;
const keyType = (r: FieldReader) => decodeFrom(KEY_TYPE_CODES, r.fixed(3), 'key type');
const algorithm = (r: FieldReader) => decodeFrom(ALGORITHM_CODES, r.fixed(1), 'key scheme');
const pinFormat = (r: FieldReader) => decodeFrom(PIN_FORMAT_CODES, r.fixed(2), 'PIN block format');
const scheme = (r: FieldReader): 'tr31' | 'ecb' => {
  const s = r.fixed(1);
  if (s === 'R') return 'tr31';
  if (s === 'E') return 'ecb';
  return r.fail('export scheme');
};
const padding = (r: FieldReader): MacPaddingMethod => {
  const p = r.fixed(1);
  if (p === '1' || p === '2' || p === '3') return Number(p) as MacPaddingMethod;
  return r.fail('padding');
};
const macAlgorithm = (r: FieldReader) => decodeFrom(MAC_ALGORITHM_CODES, r.fixed(1), 'MAC algorithm');
function factorsOf(r: FieldReader): Buffer[] {
  const count = Number(r.fixed(1, 'factor count'));
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) out.push(Buffer.from(r.fixed(16, 'factor'), 'hex'));
  return out;
}
function lastCounterOf(r: FieldReader): number | undefined {
  const text = r.variable('last counter');
  return text === '' ? undefined : parseInt(text, 16);
}

type Handler = (hsm: HsmPort, r: FieldReader, w: FieldWriter) => Promise<void>;

/** Command handlers; each reads its request fields and writes its response fields. */
const HANDLERS: Record<string, Handler> = {
  NC: async (hsm, r, w) => {
    r.end();
    const d = await hsm.diagnostics();
    w.fixed(d.lmkCheckValue, 16).variable(d.firmware);
  },
  B2: (_hsm, r, w) => {
    const data = r.variable('echo data');
    r.end();
    w.variable(data);
    return Promise.resolve();
  },
  A0: async (hsm, r, w) => {
    const mode = r.fixed(1, 'mode');
    const type = keyType(r);
    const alg = algorithm(r);
    const exportUnder = mode === '1' ? { kek: key(r), scheme: scheme(r) } : undefined;
    r.end();
    const out = await hsm.generateKey(
      exportUnder === undefined ? { type, algorithm: alg } : { type, algorithm: alg, exportUnder },
    );
    w.key(out.handle);
    if (exportUnder !== undefined) w.variable(out.exported ?? '');
    w.fixed(out.kcv, 6);
    if (exportUnder?.scheme === 'ecb') w.fixed(out.exportedCheckValue ?? '', 8);
  },
  A4: async (hsm, r, w) => {
    const type = keyType(r);
    const alg = algorithm(r);
    const count = Number(r.fixed(1, 'component count'));
    const components: KeyHandle[] = [];
    for (let i = 0; i < count; i++) components.push(key(r));
    r.end();
    const out = await hsm.formKeyFromComponents({ type, algorithm: alg, components });
    w.key(out.handle).fixed(out.kcv, 6);
  },
  A6: async (hsm, r, w) => {
    const kek = key(r);
    const s = scheme(r);
    const cryptogram = r.variable('cryptogram');
    const typeCode = r.fixed(3);
    const algCode = r.fixed(1);
    const expectedKcv = r.variable('check value');
    r.end();
    const out = await hsm.importKey({
      kek,
      scheme: s,
      cryptogram,
      ...(typeCode === '---' ? {} : { type: decodeFrom(KEY_TYPE_CODES, typeCode, 'key type') }),
      ...(algCode === '-' ? {} : { algorithm: decodeFrom(ALGORITHM_CODES, algCode, 'key scheme') }),
      ...(expectedKcv === '' ? {} : { expectedKcv }),
    });
    w.key(out.handle).fixed(out.kcv, 6);
  },
  A8: async (hsm, r, w) => {
    const k = key(r);
    const kek = key(r);
    const s = scheme(r);
    r.end();
    const out = await hsm.exportKey({ key: k, kek, scheme: s });
    w.variable(out.cryptogram).fixed(out.kcv, 6);
  },
  BU: async (hsm, r, w) => {
    const k = key(r);
    r.end();
    const info = await hsm.describeKey(k);
    w.fixed(info.kcv, 6).fixed(KEY_TYPE_CODES[info.type], 3).fixed(ALGORITHM_CODES[info.algorithm], 1);
  },
  M6: async (hsm, r, w) => {
    const alg = macAlgorithm(r);
    const pad = padding(r);
    const k = key(r);
    const data = r.bytes();
    r.end();
    w.bytes(await hsm.generateMac({ key: k, algorithm: alg, padding: pad, data }));
  },
  M8: async (hsm, r) => {
    const alg = macAlgorithm(r);
    const pad = padding(r);
    const k = key(r);
    const data = r.bytes();
    const mac = r.bytes('MAC');
    r.end();
    await hsm.verifyMac({ key: k, algorithm: alg, padding: pad, data, mac });
  },
  CA: (hsm, r, w) => translate(hsm, r, w, 'TPK'),
  CC: (hsm, r, w) => translate(hsm, r, w, 'ZPK'),
  G0: async (hsm, r, w) => {
    const bdk = key(r);
    const target = key(r);
    const ksn = r.bytes('KSN');
    const pinBlock = r.bytes('PIN block');
    const sourceFormat = pinFormat(r);
    const targetFormat = pinFormat(r);
    const pan = r.variable('account');
    r.end();
    const out = await hsm.translateDukptPin({
      bdk,
      ksn,
      pinBlock,
      sourceFormat,
      target: { key: target, format: targetFormat },
      pan,
    });
    w.bytes(out).fixed(PIN_FORMAT_CODES[targetFormat], 2);
  },
  GW: async (hsm, r, w) => {
    const mode = r.fixed(1, 'mode');
    const direction = r.fixed(1, 'direction') === 'S' ? 'response' : 'request';
    const bdk = key(r);
    const ksn = r.bytes('KSN');
    const data = r.bytes();
    if (mode === '1') {
      const mac = r.bytes('MAC');
      r.end();
      await hsm.verifyDukptMac({ bdk, ksn, direction, data, mac });
      return;
    }
    r.end();
    w.bytes(await hsm.generateDukptMac({ bdk, ksn, direction, data }));
  },
  JC: (hsm, r, w) => pinToLmk(hsm, r, w, 'TPK'),
  JE: (hsm, r, w) => pinToLmk(hsm, r, w, 'ZPK'),
  BC: (hsm, r) => verifyPin(hsm, r, 'TPK'),
  BE: (hsm, r) => verifyPin(hsm, r, 'ZPK'),
  Y0: async (hsm, r, w) => {
    const masterKey = key(r);
    const factors = factorsOf(r);
    const random = Buffer.from(r.fixed(8, 'random'), 'hex');
    const counter = parseInt(r.fixed(4, 'counter'), 16);
    r.end();
    const out = await hsm.derivePsamSessionKey({ masterKey, factors, random, counter });
    w.key(out.handle).fixed(out.kcv, 6);
  },
  Y2: async (hsm, r, w) => {
    const mode = r.fixed(1, 'mode');
    const alg = macAlgorithm(r);
    const pad = padding(r);
    const masterKey = key(r);
    const factors = factorsOf(r);
    const random = Buffer.from(r.fixed(8, 'random'), 'hex');
    const counter = parseInt(r.fixed(4, 'counter'), 16);
    const lastCounter = lastCounterOf(r);
    const data = r.bytes();
    const base = { masterKey, factors, random, counter, algorithm: alg, padding: pad, data };
    const request = lastCounter === undefined ? base : { ...base, lastCounter };
    if (mode === '1') {
      const mac = r.bytes('MAC');
      r.end();
      await hsm.verifyPsamMac({ ...request, mac });
      return;
    }
    r.end();
    w.bytes(await hsm.generatePsamMac(request));
  },
};

/** CA/CC: the source key's type is checked by the HSM; the command only documents intent. */
async function translate(hsm: HsmPort, r: FieldReader, w: FieldWriter, _source: 'TPK' | 'ZPK'): Promise<void> {
  const source = key(r);
  const target = key(r);
  const pinBlock = r.bytes('PIN block');
  const sourceFormat = pinFormat(r);
  const targetFormat = pinFormat(r);
  const pan = r.variable('account');
  r.end();
  const out = await hsm.translatePin({
    source: { key: source, format: sourceFormat },
    target: { key: target, format: targetFormat },
    pinBlock,
    pan,
  });
  w.bytes(out).fixed(PIN_FORMAT_CODES[targetFormat], 2);
}

async function pinToLmk(hsm: HsmPort, r: FieldReader, w: FieldWriter, _source: 'TPK' | 'ZPK'): Promise<void> {
  const k = key(r);
  const pinBlock = r.bytes('PIN block');
  const format = pinFormat(r);
  const pan = r.variable('account');
  r.end();
  w.variable(await hsm.encryptPinUnderLmk({ source: { key: k, format }, pinBlock, pan }));
}

async function verifyPin(hsm: HsmPort, r: FieldReader, _source: 'TPK' | 'ZPK'): Promise<void> {
  const k = key(r);
  const pinBlock = r.bytes('PIN block');
  const format = pinFormat(r);
  const pan = r.variable('account');
  const reference = r.variable('PIN under LMK') as LmkPin;
  r.end();
  await hsm.verifyPin({ source: { key: k, format }, pinBlock, pan, reference });
}

/** Executes one host message and returns the response message (without the length prefix). */
export async function handleHostMessage(hsm: HsmPort, message: string, headerLength: number): Promise<string> {
  const header = message.slice(0, headerLength);
  const command = message.slice(headerLength, headerLength + 2);
  const handler = HANDLERS[command];
  if (message.length < headerLength + 2 || handler === undefined) return `${header}ZZ68`;
  const writer = new FieldWriter();
  try {
    await handler(hsm, new FieldReader(message.slice(headerLength + 2)), writer);
    return `${header}${responseCode(command)}00${writer.toString()}`;
  } catch (e) {
    const name: ResultCodeName | undefined = isFixpayError(e) ? e.codeName : undefined;
    return `${header}${responseCode(command)}${errorCodeFor(name ?? 'HSM_PROTOCOL_ERROR')}`;
  }
}

/** Starts the server; resolves once it listens. */
export function startHsmServer(options: HsmServerOptions): Promise<RunningHsmServer> {
  const headerLength = options.headerLength ?? HOST_PROTOCOL_DEFAULTS.headerLength;
  const messageBytesMax = options.messageBytesMax ?? HOST_PROTOCOL_DEFAULTS.messageBytesMax;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const reader = new FrameReader(messageBytesMax);
    // Answer in order: chain each message after the previous one.
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (e) {
        options.logger?.warn({ err: maskDeep(e), remote: socket.remoteAddress }, 'hsm: bad frame, closing connection');
        socket.destroy();
        return;
      }
      for (const m of messages) {
        queue = queue
          .then(() => handleHostMessage(options.hsm, m.toString('latin1'), headerLength))
          .then((response) => {
            if (!socket.destroyed) socket.write(frame(response));
          })
          .catch((e: unknown) => {
            options.logger?.warn({ err: scrubText(String(e)) }, 'hsm: command failed');
            socket.destroy();
          });
      }
    });
  });
  server.maxConnections = options.connectionsMax ?? HSM_SERVER_DEFAULTS.connectionsMax;
  const host = options.host ?? HSM_SERVER_DEFAULTS.host;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      options.logger?.info({ host, port: address.port, hsm: options.hsm.describe() }, 'hsm: listening');
      resolve({
        host,
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => {
              done();
            });
          }),
      });
    });
  });
}
