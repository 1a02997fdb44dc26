/**
 * The vectors of the terminal protocol documents (docs/protocols/), computed from the code that
 * speaks the protocol: the PSAM and MAC crypto, the field 62 key layouts, whole messages as the
 * terminal simulator builds them and the host answers them, link frames per device profile, TCP
 * PCM messages and the demo terminals' data. `protocol-vectors.test.ts` compares every marked
 * block in the documents with these and rewrites them on request, so docs and code cannot drift.
 *
 * A block in Markdown:
 *
 *   <!-- vector:begin NAME -->
 *   …generated Markdown…
 *   <!-- vector:end -->
 */
import { blockCipher } from '../../hsm/crypto/block-cipher';
import { fromHex, toHex, xor } from '../../hsm/crypto/bytes';
import { keyCheckValue, unionPayEcbMac } from '../../hsm/crypto/mac';
import { pbocDiversify, pbocSessionInput, pbocSessionKey } from '../../hsm/crypto/pboc';
import { encodePinBlock, panField0 } from '../../hsm/crypto/pin-block';
import {
  buildField62,
  field62Length,
  FIELD62_CHECK_VALUE_BYTES,
  FIELD62_LAYOUTS,
  parseField62,
} from '../../hsm/terminal-keys';
import type { SignOnKeyLayout } from '../../hsm/terminal-keys';
import { MessageCodec, openEnvelope, terminalSpec } from '../../gateways/iso8583';
import type { FieldValue, TlvItem } from '../../gateways/iso8583';
import { encodeMenu, encodeReceipt, encodeScreen, fitText } from '../../terminal-protocol/conversation';
import { buildMenu } from '../../terminal-protocol/menu';
import { PROMPT_RESPONSE_CODE } from '../../terminal-protocol/spec';
import { encodePsamBlock } from '../../gateways/iso8583/terminal-layout';
import { closeAnswer, closeUnsignedDecline, openTerminalRequest } from '../../terminal-protocol/messages';
import { encodeFrame } from '../../channel-engine/link';
import type { Frame } from '../../channel-engine/link';
import { createModulator } from '../../channel-engine/modem';
import { frameLength } from '../../channel-engine/link';
import { loadProfiles, SEIZURE_BYTE } from '../../channel-engine/profiles';
import type { DeviceProfile } from '../../channel-engine/profiles';
import { encodeTcpPcm, pcmToBytes, TCP_PCM_TYPE } from '../../channel-engine/lines/tcp-pcm';
import { DEMO } from '../../demo/seed';
import { PsamEmulator } from '../../simulator/psam/psam';
import { TerminalSecureElement } from '../../simulator/psam/terminal-secure-element';
import {
  buildFinancialRequest,
  buildMenuRequest,
  buildPromptReply,
  buildReversalRequest,
  buildServiceRequest,
  buildSignOnRequest,
  parseResponse,
  parseTrack2,
} from '../../simulator/terminal/messages';
import type { MacSigner, TerminalIdentity } from '../../simulator/terminal/messages';
import { demoCards, demoTerminalConfigData } from '../../simulator/terminal/demo';
import { EXAMPLE_CONFIG } from '../../simulator/terminal/config';

/** Test keys of the vectors (odd parity; never production keys). */
export const VECTOR_KEYS = {
  /** The PBOC master key of the demo PSAMs (the simulators' published test key). */
  psamMasterKey: EXAMPLE_CONFIG.psam.masterKey,
  /** The demo terminals' TMK. */
  tmk: EXAMPLE_CONFIG.keys.tmk,
  tpk: '1C1C1C1C1C1C1C1C2A2A2A2A2A2A2A2A',
  /** Single-length: the host issues a single-DES TAK in layout 004. */
  tak: '3B3B3B3B3B3B3B3B',
  tdk: '4F4F4F4F4F4F4F4F6D6D6D6D6D6D6D6D',
} as const;

const codec = new MessageCodec(terminalSpec);

function fence(lines: readonly string[]): string {
  return ['```text', ...lines, '```'].join('\n');
}

/** A Markdown table laid out as Prettier lays it out (so `prettier --check` and this test agree). */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${widths.map((w, i) => (cells[i] ?? '').padEnd(w)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** `label  value` lines with the values aligned. */
function pairs(rows: readonly (readonly [string, string])[]): string[] {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`);
}

/** Hex in groups of `group` bytes, `perLine` groups per line. */
function hexLines(bytes: Uint8Array, perLine = 32): string[] {
  const hex = toHex(bytes);
  const out: string[] = [];
  for (let i = 0; i < hex.length; i += perLine * 2) out.push(hex.slice(i, i + perLine * 2));
  return out.length === 0 ? [''] : out;
}

function asciiOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}

// ---- crypto ------------------------------------------------------------------------------------

function checkValues(): string {
  const des = blockCipher('des', fromHex(VECTOR_KEYS.tak));
  const tdes = blockCipher('tdes', fromHex(VECTOR_KEYS.tpk));
  return fence(
    pairs([
      ['single-DES key', VECTOR_KEYS.tak],
      ['DES(key, 00…00)', toHex(des.encrypt(Buffer.alloc(8)))],
      ['check value (4 bytes)', toHex(keyCheckValue(des, FIELD62_CHECK_VALUE_BYTES))],
      ['double-length key', VECTOR_KEYS.tpk],
      ['3DES(key, 00…00)', toHex(tdes.encrypt(Buffer.alloc(8)))],
      ['check value (4 bytes)', toHex(keyCheckValue(tdes, FIELD62_CHECK_VALUE_BYTES))],
    ]),
  );
}

function psamKeys(serial: string, random: string, counter: number): (readonly [string, string])[] {
  const mk = fromHex(VECTOR_KEYS.psamMasterKey);
  const factor = fromHex(serial);
  const inverted = Buffer.from(factor.map((b) => b ^ 0xff));
  const dk = pbocDiversify(mk, factor);
  const input = pbocSessionInput(fromHex(random), counter);
  const sk = pbocSessionKey(dk, fromHex(random), counter);
  return [
    ['MK (PBOC master key)', VECTOR_KEYS.psamMasterKey],
    ['f (PSAM serial)', serial],
    ['NOT f', toHex(inverted)],
    ['DK = 3DES(MK, f) || 3DES(MK, NOT f)', toHex(dk)],
    ['R (PSAM random)', random],
    ['counter', `${counter} = ${counter.toString(16).toUpperCase().padStart(4, '0')}`],
    ['R || counter || 80 00', toHex(input)],
    ['SK = 3DES(DK, R || counter || 80 00)', toHex(sk)],
  ];
}

function psamSessionKeys(): string {
  return fence([
    ...pairs(psamKeys('1122334455667788', 'AABBCCDD', 1)),
    '',
    ...pairs(psamKeys(DEMO.terminals[0]?.psamNo ?? '', '11223344', 1)),
  ]);
}

/** The UnionPay ECB MAC step by step; the last line is checked against the code's `unionPayEcbMac`. */
function unionPayMacSteps(keyHex: string, data: Uint8Array, label: string): string[] {
  const cipher = blockCipher('des', fromHex(keyHex));
  const blocks: Buffer[] = [];
  const padded = Buffer.alloc(Math.max(8, Math.ceil(data.length / 8) * 8));
  padded.set(data);
  for (let i = 0; i < padded.length; i += 8) blocks.push(padded.subarray(i, i + 8));
  let x: Buffer = Buffer.alloc(8);
  for (const b of blocks) x = xor(x, b);
  const expanded = Buffer.from(toHex(x), 'latin1');
  const left = cipher.encrypt(expanded.subarray(0, 8));
  const mixed = xor(left, expanded.subarray(8, 16));
  const right = cipher.encrypt(mixed);
  const mac = Buffer.from(toHex(right).slice(0, 8), 'latin1');
  const fromCode = unionPayEcbMac(cipher, data);
  if (!mac.equals(fromCode)) throw new Error(`UnionPay MAC steps disagree with the code for ${label}`);
  return pairs([
    ['key (single DES)', keyHex],
    [`data (${data.length} bytes)`, toHex(data)],
    ...blocks.map((b, i): [string, string] => [`block ${i + 1}`, toHex(b)]),
    ['XOR of the blocks', toHex(x)],
    ['as 16 hex characters', asciiOf(expanded)],
    ['the same as ASCII bytes', toHex(expanded)],
    ['DES(key, first 8)', toHex(left)],
    ['XOR last 8', toHex(mixed)],
    ['DES(key, that)', toHex(right)],
    ['MAC = first 8 hex characters', asciiOf(mac)],
    ['field 64 bytes', toHex(mac)],
  ]);
}

function unionPayMacShort(): string {
  return fence(unionPayMacSteps('0123456789ABCDEF', fromHex('010203'), 'short'));
}

function unionPayMacAligned(): string {
  const data = Buffer.from('Now is the time for all ', 'latin1');
  return fence([
    `data as ASCII: "${asciiOf(data)}" (24 bytes, a multiple of 8: no padding block is added)`,
    '',
    ...unionPayMacSteps('0123456789ABCDEF', data, 'aligned'),
  ]);
}

function pinBlock(): string {
  const card = demoCards()[0];
  if (card === undefined) throw new Error('no demo card');
  const pan = card.pan;
  const pinField = Buffer.from(`0${card.pin.length.toString(16).toUpperCase()}${card.pin}`.padEnd(16, 'F'), 'hex');
  const clear = encodePinBlock(0, card.pin, pan);
  const tpk = blockCipher('tdes', fromHex(VECTOR_KEYS.tpk));
  return fence(
    pairs([
      ['PIN', card.pin],
      ['PAN', pan],
      ['PIN field  0 L PIN F…F', toHex(pinField)],
      ['PAN field  0000 + 12 digits', toHex(panField0(pan))],
      ['clear block (XOR)', toHex(clear)],
      ['TPK (double length)', VECTOR_KEYS.tpk],
      ['field 52 = 3DES(TPK, block)', toHex(tpk.encrypt(clear))],
    ]),
  );
}

// ---- field 62 ----------------------------------------------------------------------------------

function field62Layouts(): string {
  const rows = (Object.keys(FIELD62_LAYOUTS) as SignOnKeyLayout[]).map((layout) => {
    const parts = FIELD62_LAYOUTS[layout].map((e) => {
      const keyBytes = e.algorithm === 'des' ? 8 : 16;
      const pad = e.slotBytes - keyBytes;
      const key = `${e.role.toUpperCase()} ${keyBytes}${pad > 0 ? ` + ${pad} zero bytes` : ''}`;
      return `${key} + CV ${FIELD62_CHECK_VALUE_BYTES}`;
    });
    const kinds = FIELD62_LAYOUTS[layout]
      .map((e) => `${e.role.toUpperCase()} ${e.algorithm === 'des' ? 'single DES' : 'double-length 3DES'}`)
      .join(', ');
    return [`\`${layout}\``, parts.join(' \\| '), String(field62Length(layout)), kinds];
  });
  return table(['60.3', 'field 62, in order (bytes)', 'total', 'keys'], rows);
}

interface WorkingKeys {
  readonly field62: Buffer;
  readonly cryptograms: Record<'tpk' | 'tak' | 'tdk', string>;
}

/** Field 62 for layout 004 from the fixed clear keys, exported by the software HSM under the TMK. */
function workingKeys(): WorkingKeys {
  // The HSM exports only keys it generates in ECB under a TMK (A0 mode 1, hsm/key-policy.ts); for
  // fixed vector keys the same encipherment is done here: 3DES-ECB under the TMK, block by block.
  const tmk = blockCipher('tdes', fromHex(VECTOR_KEYS.tmk));
  const exportUnderTmk = (_type: 'TPK' | 'TAK' | 'TDK', algorithm: 'des' | 'tdes2', hex: string) => {
    const cryptogram = toHex(tmk.encrypt(fromHex(hex)));
    const cipher = blockCipher(algorithm === 'des' ? 'des' : 'tdes', fromHex(hex));
    return { cryptogram: Buffer.from(cryptogram, 'hex'), checkValue: keyCheckValue(cipher, FIELD62_CHECK_VALUE_BYTES) };
  };
  const tpk = exportUnderTmk('TPK', 'tdes2', VECTOR_KEYS.tpk);
  const tak = exportUnderTmk('TAK', 'des', VECTOR_KEYS.tak);
  const tdk = exportUnderTmk('TDK', 'tdes2', VECTOR_KEYS.tdk);
  const field62 = buildField62('004', { tpk, tak, tdk });
  // The terminal's side must accept it: decipher under the TMK and check every check value.
  new TerminalSecureElement(VECTOR_KEYS.tmk).loadWorkingKeys('004', field62);
  return {
    field62,
    cryptograms: { tpk: toHex(tpk.cryptogram), tak: toHex(tak.cryptogram), tdk: toHex(tdk.cryptogram) },
  };
}

function field62Example(): Promise<string> {
  const { field62 } = workingKeys();
  const parsed = parseField62('004', field62);
  const rows: [string, string][] = [
    ['TMK', VECTOR_KEYS.tmk],
    ['clear TPK / TAK / TDK', `${VECTOR_KEYS.tpk} / ${VECTOR_KEYS.tak} / ${VECTOR_KEYS.tdk}`],
  ];
  let at = 0;
  for (const entry of FIELD62_LAYOUTS['004']) {
    const role = entry.role.toUpperCase();
    const slot = field62.subarray(at, at + entry.slotBytes);
    const cv = field62.subarray(at + entry.slotBytes, at + entry.slotBytes + FIELD62_CHECK_VALUE_BYTES);
    rows.push([`${role} slot (${entry.slotBytes} bytes)`, toHex(slot)]);
    rows.push([`${role} check value`, toHex(cv)]);
    at += entry.slotBytes + FIELD62_CHECK_VALUE_BYTES;
  }
  const tak = parsed.tak;
  rows.push(['TAK = 3DES-ECB(TMK, clear TAK)', toHex(tak.cryptogram)]);
  return Promise.resolve(fence([...pairs(rows), '', `field 62 (${field62.length} bytes):`, ...hexLines(field62, 30)]));
}

// ---- messages ----------------------------------------------------------------------------------

/** The bytes one field occupies in a packed message (packed alone, less MTI and bitmap). */
function fieldBytes(id: number, value: FieldValue): Buffer {
  const alone = codec.pack({ mti: '0800', fields: new Map([[id, value]]) });
  return alone.subarray(2 + 8);
}

function showValue(id: number, value: FieldValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Uint8Array) return id === 64 ? `"${asciiOf(value)}"` : toHex(value);
  if (Array.isArray(value)) {
    if (id !== 59) return 'TLV';
    // Field 59 (ADR 0018): ASCII items as text, nested lists (menu entries, input specs) as hex.
    return (value as readonly TlvItem[])
      .map((i) => {
        const text = Buffer.from(i.value).toString('latin1');
        return `${i.tag}=${/^[\x20-\x7e]*$/.test(text) ? JSON.stringify(text) : toHex(i.value)}`;
      })
      .join(' ');
  }
  return Object.entries(value as Record<string, string>)
    .map(([k, v]) => `${id}.${k}=${JSON.stringify(v)}`)
    .join(' ');
}

/** TPDU, application header, MTI, bitmap, then every field: its bytes and its value. */
function dumpPayload(payload: Uint8Array): string[] {
  const opened = openEnvelope(Buffer.from(payload), { tpduBytes: 5, applicationHeaderBytes: 6, lri: 'never' });
  const msg = codec.unpack(opened.body);
  const body = opened.body;
  const bitmap = body.subarray(2, 10);
  const ids = [...msg.fields.keys()].sort((a, b) => a - b);
  const rows: [string, string][] = [
    ['TPDU', `${toHex(Buffer.from(payload).subarray(0, 5))}  (ID 60, destination, source)`],
    ['header', toHex(Buffer.from(payload).subarray(5, 11))],
    ['MTI', toHex(body.subarray(0, 2))],
    ['bitmap', `${toHex(bitmap)}  (fields ${ids.join(', ')})`],
  ];
  const parts: Buffer[] = [body.subarray(0, 10)];
  for (const id of ids) {
    const value = msg.fields.get(id);
    if (value === undefined) continue;
    const bytes = fieldBytes(id, value);
    parts.push(bytes);
    rows.push([`F${id}`, `${toHex(bytes)}  ${showValue(id, value)}`]);
  }
  if (!Buffer.concat(parts).equals(body)) throw new Error('the field dump does not add up to the message');
  return [
    ...pairs(rows),
    '',
    `whole link payload (${payload.length} bytes):`,
    ...hexLines(payload),
    '',
    `MAC input: MTI through field 63, ${body.length - 8} bytes (the packed message less its last 8)`,
  ];
}

/**
 * Odd-length numeric and track values: where the filler nibble goes, and that a filler F decodes
 * to the same value as the 0 the encoder writes.
 */
function fillerNibble(): string {
  const cases: [number, FieldValue, string][] = [
    [2, '4012345678909', 'n..19, BCD LL, 13 digits'],
    [35, '4012345678909=3012201', 'z..37, BCD LL, 21 characters'],
    [60, { '1': '22', '2': '000001', '3': '000' }, 'n..17, BCD LLL, 11 digits'],
    [22, '021', 'n3 fixed, 3 digits'],
  ];
  const rows: [string, string][] = [];
  for (const [id, value, what] of cases) {
    const bytes = fieldBytes(id, value);
    rows.push([`F${id} ${what}`, `${showValue(id, value)} -> ${toHex(bytes)}`]);
    const fixed = codec.field(id)?.spec.prefix === 'Fixed';
    if (fixed) continue;
    // Right filler: the last nibble of the field. The same bytes with F there must decode alike.
    const withF = Buffer.from(bytes);
    const last = withF.length - 1;
    withF[last] = (withF[last] ?? 0) | 0x0f;
    const alone = codec.pack({ mti: '0800', fields: new Map([[id, value]]) });
    const decoded = codec.unpack(Buffer.concat([alone.subarray(0, 10), withF])).fields.get(id);
    if (JSON.stringify(decoded) !== JSON.stringify(value)) throw new Error(`F${id}: filler F does not decode alike`);
    rows.push([`  same with filler F`, `${toHex(withF)} -> ${showValue(id, value)}`]);
  }
  return fence(pairs(rows));
}

interface Scenario {
  readonly signOnRequest: Buffer;
  readonly signOnResponse: Buffer;
  readonly purchaseRequest: Buffer;
  readonly purchaseResponse: Buffer;
  readonly a0Response: Buffer;
  readonly unsignedDecline: Buffer;
  readonly reversalRequest: Buffer;
  readonly reversalResponse: Buffer;
  readonly menuRequest: Buffer;
  readonly menuResponse: Buffer;
  readonly serviceRequest: Buffer;
  readonly screenResponse: Buffer;
  readonly promptReply: Buffer;
  readonly serviceResponse: Buffer;
}

function identity(): TerminalIdentity {
  const demo = demoTerminalConfigData(0, 'tcp-pcm') as unknown as {
    terminalId: string;
    merchantId: string;
    tpdu: { destination: string; source: string };
    applicationHeader: string;
    currency: string;
    operatorCode: string;
  };
  return {
    terminalId: demo.terminalId,
    merchantId: demo.merchantId,
    tpdu: { id: 0x60, destination: demo.tpdu.destination, source: demo.tpdu.source },
    applicationHeader: demo.applicationHeader,
    currency: demo.currency,
    operatorCode: demo.operatorCode,
  };
}

/** Demo terminal T0000001: sign-on (counter 1) then a purchase of 12.50 (counter 2), both answered by the host code. */
async function scenario(): Promise<Scenario> {
  const id = identity();
  const terminal = DEMO.terminals[0];
  const card = demoCards()[0];
  if (terminal === undefined || card === undefined) throw new Error('no demo terminal');
  const randoms = [
    fromHex('11223344'),
    fromHex('55667788'),
    fromHex('99AABBCC'),
    fromHex('0A0B0C0D'),
    fromHex('1A1B1C1D'),
    fromHex('2A2B2C2D'),
  ];
  const psam = PsamEmulator.issue(VECTOR_KEYS.psamMasterKey, {
    serial: terminal.psamNo,
    terminalNumber: EXAMPLE_CONFIG.psam.terminalNumber,
    random: () => randoms.shift() ?? Buffer.alloc(4),
  });
  const begin = (): { signer: MacSigner; verify: (data: Uint8Array, mac: Uint8Array) => boolean } => {
    const tx = psam.beginTransaction();
    return {
      signer: {
        psam: {
          serial: terminal.psamNo,
          terminalNumber: psam.readTerminalNumber(),
          random: toHex(tx.random),
          counter: tx.counter,
        },
        mac: (d) => tx.mac(d, 'unionpay-ecb'),
      },
      verify: (d, m) => tx.verify(d, m, 'unionpay-ecb'),
    };
  };
  // The host's MAC: the same PSAM session, derived from the request's random and counter.
  const hostSign = (random: string, counter: number) => {
    const dk = pbocDiversify(fromHex(VECTOR_KEYS.psamMasterKey), fromHex(terminal.psamNo));
    const sk = blockCipher('des', pbocSessionKey(dk, fromHex(random), counter));
    return (data: Uint8Array): Promise<Uint8Array> => Promise.resolve(unionPayEcbMac(sk, data));
  };

  const s1 = begin();
  const signOn = buildSignOnRequest(id, { stan: 1, batch: '000001', layout: '004' }, s1.signer);
  const keys = workingKeys();
  const openedSignOn = openTerminalRequest(signOn.payload);
  const signOnResponse = await closeAnswer(
    openedSignOn,
    { responseCode: '00', field62Hex: toHex(keys.field62) },
    hostSign(s1.signer.psam.random, s1.signer.psam.counter),
  );
  const r1 = parseResponse(signOnResponse, signOn, id);
  if (r1.mac === undefined || r1.macData === undefined || !s1.verify(r1.macData, r1.mac))
    throw new Error('the terminal refuses the 0810 MAC');
  const secure = new TerminalSecureElement(VECTOR_KEYS.tmk);
  secure.loadWorkingKeys('004', r1.field62 ?? Buffer.alloc(0));

  const s2 = begin();
  const track2 = parseTrack2(card.track2);
  const purchase = buildFinancialRequest(
    id,
    {
      kind: 'purchase',
      stan: 2,
      amountMinor: 1250,
      track2,
      pinBlock: secure.encryptPin(card.pin, track2.pan),
      batch: '000001',
    },
    s2.signer,
  );
  const openedPurchase = openTerminalRequest(purchase.payload);
  const sign2 = hostSign(s2.signer.psam.random, s2.signer.psam.counter);
  const purchaseResponse = await closeAnswer(
    openedPurchase,
    { responseCode: '00', authCode: '123456', rrn: '000000000042', amountMinor: 1250 },
    sign2,
  );
  const r2 = parseResponse(purchaseResponse, purchase, id);
  if (r2.mac === undefined || r2.macData === undefined || !s2.verify(r2.macData, r2.mac))
    throw new Error('the terminal refuses the 0210 MAC');
  const a0Response = await closeAnswer(openedPurchase, { responseCode: 'A0' }, sign2);
  const unsignedDecline = closeUnsignedDecline(openedPurchase, '96');

  // The phone's reversal of that purchase (ADR 0012: no valid answer, reason 98) on its next call,
  // under a new PSAM session (counter 3), and the host's 0410.
  const s3 = begin();
  const reversal = buildReversalRequest(
    id,
    purchase.payload,
    { reason: '98', repeat: false, originalDate: '1126' },
    s3.signer,
  );
  const reversalResponse = await closeAnswer(
    openTerminalRequest(reversal.payload),
    { responseCode: '00' },
    hostSign(s3.signer.psam.random, s3.signer.psam.counter),
  );
  const r3 = parseResponse(reversalResponse, reversal, id);
  if (r3.mac === undefined || r3.macData === undefined || !s3.verify(r3.macData, r3.mac))
    throw new Error('the terminal refuses the 0410 MAC');
  // A conversation (ADR 0018) on the es201912-v23 profile (4 x 16 display, 24-column printer):
  // the menu request (counter 4) and its 0810, the generic service request (counter 5) answered
  // by a screen, the reply (counter 6, its own STAN) answered by the final 0210 with a receipt.
  const s4 = begin();
  const menuRequest = buildMenuRequest(id, { stan: 4, batch: '000001', menuVersion: undefined }, s4.signer);
  const menu = buildMenu(
    [
      {
        serviceId: 'electricity',
        menu: ['Bills', 'Electricity'],
        title: 'Electricity',
        inputs: [{ name: 'customer', kind: 'digits', label: 'Customer no', min: 6, max: 12 }],
        profiles: null,
      },
    ],
    { profileId: 'es201912-v23', displayColumns: 16, menuMemory: { entries: 64 } },
  );
  const menuResponse = await closeAnswer(
    openTerminalRequest(menuRequest.payload),
    { responseCode: '00', field59Hex: toHex(encodeMenu(menu, undefined)) },
    hostSign(s4.signer.psam.random, s4.signer.psam.counter),
  );
  const s5 = begin();
  const serviceRequest = buildServiceRequest(
    id,
    { stan: 5, batch: '000001', code: 'electricity', menuVersion: menu.version, inputs: { customer: '12345678' } },
    s5.signer,
  );
  const openedService = openTerminalRequest(serviceRequest.payload);
  const sign5 = hostSign(s5.signer.psam.random, s5.signer.psam.counter);
  const screenResponse = await closeAnswer(
    openedService,
    {
      responseCode: PROMPT_RESPONSE_CODE,
      field59Hex: toHex(
        encodeScreen({
          promptId: 'confirm#0',
          lines: fitText(['PAY 45.50? 1=YES 2=NO'], 16, 3),
          input: {
            name: 'reply',
            kind: 'choice',
            label: '',
            choices: [
              { key: '1', label: 'YES' },
              { key: '2', label: 'NO' },
            ],
          },
          timeoutSeconds: 60,
        }),
      ),
    },
    sign5,
  );
  const s6 = begin();
  const promptReply = buildPromptReply(
    id,
    { stan: 6, batch: '000001', reply: { promptId: 'confirm#0', status: 'answered', value: '1' } },
    s6.signer,
  );
  const serviceResponse = await closeAnswer(
    openedService,
    {
      responseCode: '00',
      amountMinor: 4550,
      field59Hex: toHex(
        encodeReceipt(fitText(['ELECTRICITY', 'CUSTOMER 12345678', 'AMOUNT 45.50', 'REF T0000001-000005'], 24)),
      ),
    },
    sign5,
  );
  for (const [answer, label] of [
    [menuResponse, 'menu 0810'],
    [screenResponse, 'screen'],
    [serviceResponse, 'final 0210'],
  ] as const) {
    const request = answer === menuResponse ? menuRequest : serviceRequest;
    const verify = answer === menuResponse ? s4.verify : s5.verify;
    const r = parseResponse(answer, request, id);
    if (r.mac === undefined || r.macData === undefined || !verify(r.macData, r.mac))
      throw new Error(`the terminal refuses the ${label} MAC`);
  }
  return {
    menuRequest: menuRequest.payload,
    menuResponse,
    serviceRequest: serviceRequest.payload,
    screenResponse,
    promptReply: promptReply.payload,
    serviceResponse,
    reversalRequest: reversal.payload,
    reversalResponse,
    signOnRequest: signOn.payload,
    signOnResponse,
    purchaseRequest: purchase.payload,
    purchaseResponse,
    a0Response,
    unsignedDecline,
  };
}

let scenarioMemo: Promise<Scenario> | undefined;
const scenarioOnce = (): Promise<Scenario> => (scenarioMemo ??= scenario());

function psamBlock(): string {
  const block = {
    serial: '1122334455667788',
    terminalNumber: '000000000001',
    random: 'AABBCCDD',
    counter: 1,
  };
  const text = encodePsamBlock(block);
  return fence(
    pairs([
      ['serial', block.serial],
      ['terminal number', block.terminalNumber],
      ['random', block.random],
      ['counter', `${block.counter}`],
      ['63.2 (60 characters)', text],
    ]),
  );
}

// ---- link, line --------------------------------------------------------------------------------

function profiles(): Map<string, DeviceProfile> {
  return loadProfiles();
}

function linkFrames(profileId: string): string {
  const profile = profiles().get(profileId);
  if (profile === undefined) throw new Error(`profile ${profileId}`);
  const frames: [string, Frame][] = [
    ['EST (empty)', { kind: 'est', payload: new Uint8Array(0) }],
    ['DATA seq 0, payload 60 00 03 00 00', { kind: 'data', seq: 0, more: false, payload: fromHex('6000030000') }],
    ['DATA seq 1, same payload', { kind: 'data', seq: 1, more: false, payload: fromHex('6000030000') }],
    ['DATA seq 0, more segments follow', { kind: 'data', seq: 0, more: true, payload: fromHex('6000030000') }],
    ['ACK0', { kind: 'ack', seq: 0 }],
    ['ACK1', { kind: 'ack', seq: 1 }],
    ['NAK, cause 01 (bad check)', { kind: 'nak', cause: 0x01 }],
    ['REL', { kind: 'rel' }],
  ];
  const rows = frames.map(([label, frame]): [string, string] => {
    const encoded = encodeFrame(profile.link, frame);
    if (!encoded.ok) throw new Error(encoded.error.detail);
    return [label, toHex(encoded.value)];
  });
  const seizure = profile.modem.seizureBytes;
  return fence([
    `profile ${profile.id}: check ${profile.link.check}${profile.link.check === 'sum8' ? '' : ` (${profile.link.checkByteOrder}-endian on the line)`}, length ${profile.link.lengthBytes} byte(s)`,
    `every burst: ${profile.modem.leadInMarkBits} mark bits, ${seizure === 0 ? 'no seizure' : `${seizure} × ${SEIZURE_BYTE.toString(16).toUpperCase()}`}, the frame, ${profile.modem.trailMarkBits} mark bits`,
    '',
    ...pairs(rows),
  ]);
}

/** Audio one transmission occupies: turnaround silence, the FSK burst, 20 ms of silence. */
async function burstDurations(): Promise<string> {
  const sc = await scenarioOnce();
  const rows: [string, string][] = [];
  for (const p of [...profiles().values()].sort((a, b) => b.id.localeCompare(a.id))) {
    const modem = createModulator({
      modulation: p.modem.modulation,
      levelDbm0: p.modem.levelDbm0,
      leadInMarkBits: p.modem.leadInMarkBits,
      trailMarkBits: p.modem.trailMarkBits,
    });
    const turnaround = Math.round((p.timers.turnaroundMs * 8000) / 1000);
    for (const [what, payload] of [
      ['ACK', 0],
      [`sign-on request (${sc.signOnRequest.length}-byte payload)`, sc.signOnRequest.length],
      [`purchase request (${sc.purchaseRequest.length}-byte payload)`, sc.purchaseRequest.length],
      [`purchase answer (${sc.purchaseResponse.length}-byte payload)`, sc.purchaseResponse.length],
    ] as const) {
      const segments = Math.max(1, Math.ceil(payload / p.link.maxPayloadBytes));
      let samples = 0;
      for (let i = 0; i < segments; i++) {
        const part = Math.min(p.link.maxPayloadBytes, payload - i * p.link.maxPayloadBytes);
        const bytes = p.modem.seizureBytes + frameLength(p.link, part);
        samples += turnaround + modem.burstSamples(bytes) + 160;
      }
      rows.push([`${p.id}  ${what}`, `${segments} frame(s), ${samples} samples = ${(samples / 8).toFixed(1)} ms`]);
    }
  }
  return fence(pairs(rows));
}

/** One row per shipped profile: the phone family it describes (docs/protocols/phone-families.md). */
function phoneFamilies(): string {
  const all = [...profiles().values()].sort((a, b) => a.id.localeCompare(b.id));
  return table(
    ['profile', 'modem', 'link', 'display', 'printer', 'menu memory', 'input'],
    all.map((p) => {
      const t = p.terminal;
      const m = p.modem;
      const mem = t === undefined ? [] : [t.menuMemory.bytes, t.menuMemory.entries];
      return [
        `\`${p.id}\``,
        `${m.modulation}, ${m.leadInMarkBits} mark bits${m.seizureBytes > 0 ? `, seizure ${m.seizureBytes} B` : ''}, ${m.levelDbm0} dBm0`,
        `${p.link.lengthBytes}-byte length, ${p.link.check}${p.link.check === 'sum8' ? '' : ` ${p.link.checkByteOrder}`}, ≤ ${p.link.maxPayloadBytes} B/frame`,
        t === undefined ? '—' : `${t.display.lines} × ${t.display.columns} ${t.display.charset}`,
        t === undefined ? '—' : t.printer === 'none' ? 'none' : `${t.printer.columns} columns`,
        t === undefined
          ? '—'
          : [mem[0] === undefined ? '' : `${mem[0]} B`, mem[1] === undefined ? '' : `${mem[1]} entries`]
              .filter((x) => x !== '')
              .join(', '),
        t === undefined ? '—' : t.input.join(', '),
      ];
    }),
  );
}

function profileTimers(): string {
  const all = [...profiles().values()].sort((a, b) => b.id.localeCompare(a.id));
  const keys = [
    'answerDelayMs',
    'turnaroundMs',
    'ackTimeoutMs',
    'maxRetransmissions',
    'handshakeTimeoutMs',
    'handshakeRetries',
    'idleTimeoutMs',
    'releaseDelayMs',
  ] as const;
  const modem = (p: DeviceProfile): string[] => [
    p.modem.modulation,
    String(p.modem.levelDbm0),
    String(p.modem.leadInMarkBits),
    String(p.modem.seizureBytes),
    String(p.modem.trailMarkBits),
  ];
  const link = (p: DeviceProfile): string[] => [
    `0x${p.link.types.data.toString(16)}`,
    `0x${p.link.types.ack.toString(16)}`,
    `0x${p.link.types.nak.toString(16)}`,
    `0x${p.link.types.est.toString(16)}`,
    `0x${p.link.types.rel.toString(16)}`,
    `0x${p.link.segmentFlag.bit.toString(16)} ${p.link.segmentFlag.meaning}`,
    String(p.link.lengthBytes),
    String(p.link.maxPayloadBytes),
    String(p.link.maxMessageBytes),
    p.link.check,
    p.link.checkByteOrder,
  ];
  const names = [
    'modulation',
    'levelDbm0',
    'leadInMarkBits',
    'seizureBytes',
    'trailMarkBits',
    'types.data (DATA0; DATA1 = +1)',
    'types.ack (ACK0; ACK1 = +1)',
    'types.nak',
    'types.est',
    'types.rel',
    'segmentFlag',
    'lengthBytes',
    'maxPayloadBytes',
    'maxMessageBytes',
    'check',
    'checkByteOrder',
    ...keys,
  ];
  const columns = all.map((p) => [...modem(p), ...link(p), ...keys.map((k) => String(p.timers[k]))]);
  return table(
    ['parameter', ...all.map((p) => `\`${p.id}\``)],
    names.map((n, i) => [n, ...columns.map((c) => c[i] ?? '')]),
  );
}

function tcpPcmMessages(): string {
  const rows: [string, Uint8Array][] = [
    [
      'HELLO "862150000001" NUL "95105"',
      encodeTcpPcm(TCP_PCM_TYPE.hello, Buffer.from('862150000001\u000095105', 'latin1')),
    ],
    ['AUDIO (client), samples 1, -2', encodeTcpPcm(TCP_PCM_TYPE.audio, pcmToBytes(Int16Array.of(1, -2)))],
    ['BYE (client)', encodeTcpPcm(TCP_PCM_TYPE.bye)],
    ['ANSWER', encodeTcpPcm(TCP_PCM_TYPE.answer)],
    ['BYE (engine) "hangup"', encodeTcpPcm(TCP_PCM_TYPE.byeOut, Buffer.from('hangup', 'utf8'))],
    ['REJECT "FP3620"', encodeTcpPcm(TCP_PCM_TYPE.reject, Buffer.from('FP3620', 'latin1'))],
  ];
  return fence(pairs(rows.map(([k, v]) => [k, toHex(v)])));
}

// ---- demo data ---------------------------------------------------------------------------------

function demoTerminals(): string {
  const rows = DEMO.terminals.map((t, i) => {
    const c = demoTerminalConfigData(i, 'tcp-pcm') as unknown as {
      merchantId: string;
      profile: string;
      psam: { serial: string; terminalNumber: string };
      card: { track2: string; pin: string };
    };
    const pan = c.card.track2.split('=')[0] ?? '';
    return [
      `\`${t.terminalId}\``,
      `${t.customer.id} (${t.customer.kind})`,
      `\`${c.merchantId}\``,
      `\`${t.ani}\``,
      `\`${t.psamNo}\``,
      `\`${c.psam.terminalNumber}\``,
      `\`${t.deviceProfileId}\``,
      `\`${c.profile}\``,
      `\`${pan}\` / \`${c.card.pin}\``,
    ];
  });
  return table(
    [
      'terminal (41)',
      'customer',
      'merchant (42)',
      'caller number',
      'PSAM serial',
      'PSAM terminal number',
      'profile on record',
      'demo phone uses',
      'card / PIN',
    ],
    rows,
  );
}

function demoKeys(): string {
  const c = demoTerminalConfigData(0, 'tcp-pcm') as unknown as {
    tpdu: { destination: string; source: string };
    applicationHeader: string;
    currency: string;
    operatorCode: string;
    keys: { signOnLayout: string };
  };
  return fence(
    pairs([
      ['PBOC master key (all demo PSAMs)', VECTOR_KEYS.psamMasterKey],
      ['TMK (all demo terminals)', VECTOR_KEYS.tmk],
      ['TPDU', `60 ${c.tpdu.destination} ${c.tpdu.source}`],
      ['application header', c.applicationHeader],
      ['currency (49)', c.currency],
      ['operator (63.1)', c.operatorCode],
      ['sign-on layout (60.3)', c.keys.signOnLayout],
      ['called number', EXAMPLE_CONFIG.line.calledNumber],
    ]),
  );
}

/**
 * A card service request (ADR 0024): demo terminal T0000001 asks for `transfer` with the demo card
 * read and its PIN block (under the TPK of the sign-on's working keys), the target card number and
 * the amount collected as inputs. Its own PSAM session (counter 1, random 3A3B3C3D).
 */
function cardServiceRequest(): string {
  const id = identity();
  const terminal = DEMO.terminals[0];
  const card = demoCards()[0];
  if (terminal === undefined || card === undefined) throw new Error('no demo terminal');
  const psam = PsamEmulator.issue(VECTOR_KEYS.psamMasterKey, {
    serial: terminal.psamNo,
    terminalNumber: EXAMPLE_CONFIG.psam.terminalNumber,
    random: () => fromHex('3A3B3C3D'),
  });
  const tx = psam.beginTransaction();
  const secure = new TerminalSecureElement(VECTOR_KEYS.tmk);
  secure.loadWorkingKeys('004', workingKeys().field62);
  const track2 = parseTrack2(card.track2);
  const request = buildServiceRequest(
    id,
    {
      stan: 7,
      batch: '000001',
      code: 'transfer',
      menuVersion: '0123456789abcdef',
      inputs: { target: '6225880000000019', amount: '2500' },
      card: { track2, pinBlock: secure.encryptPin(card.pin, track2.pan) },
    },
    {
      psam: {
        serial: terminal.psamNo,
        terminalNumber: psam.readTerminalNumber(),
        random: toHex(tx.random),
        counter: tx.counter,
      },
      mac: (d) => tx.mac(d, 'unionpay-ecb'),
    },
  );
  const opened = openTerminalRequest(request.payload);
  if (opened.pan !== track2.pan || opened.summary.serviceId !== 'transfer') throw new Error('the host misreads it');
  return fence(dumpPayload(request.payload));
}

/** Every vector by name: the Markdown between its markers. */
export const PROTOCOL_VECTORS: Readonly<Record<string, () => string | Promise<string>>> = {
  'check-value': checkValues,
  'psam-session-key': psamSessionKeys,
  'unionpay-mac-short': unionPayMacShort,
  'unionpay-mac-aligned': unionPayMacAligned,
  'pin-block': pinBlock,
  'field62-layouts': field62Layouts,
  'field62-example': field62Example,
  'psam-block': psamBlock,
  'sign-on-request': async () => fence(dumpPayload((await scenarioOnce()).signOnRequest)),
  'sign-on-response': async () => fence(dumpPayload((await scenarioOnce()).signOnResponse)),
  'purchase-request': async () => fence(dumpPayload((await scenarioOnce()).purchaseRequest)),
  'purchase-response': async () => fence(dumpPayload((await scenarioOnce()).purchaseResponse)),
  'a0-response': async () => fence(dumpPayload((await scenarioOnce()).a0Response)),
  'reversal-request': async () => fence(dumpPayload((await scenarioOnce()).reversalRequest)),
  'reversal-response': async () => fence(dumpPayload((await scenarioOnce()).reversalResponse)),
  'unsigned-decline': async () => fence(dumpPayload((await scenarioOnce()).unsignedDecline).slice(0, -2)),
  'menu-request': async () => fence(dumpPayload((await scenarioOnce()).menuRequest)),
  'menu-response': async () => fence(dumpPayload((await scenarioOnce()).menuResponse)),
  'service-request': async () => fence(dumpPayload((await scenarioOnce()).serviceRequest)),
  'screen-response': async () => fence(dumpPayload((await scenarioOnce()).screenResponse)),
  'prompt-reply': async () => fence(dumpPayload((await scenarioOnce()).promptReply)),
  'service-response': async () => fence(dumpPayload((await scenarioOnce()).serviceResponse)),
  'card-service-request': cardServiceRequest,
  'link-frames-es201912-v23': () => linkFrames('es201912-v23'),
  'link-frames-bell202-crc16': () => linkFrames('bell202-crc16'),
  'link-frames-v23-compact-crc16': () => linkFrames('v23-compact-crc16'),
  'link-frames-bell202-kermit-desk': () => linkFrames('bell202-kermit-desk'),
  'device-profiles': profileTimers,
  'phone-families': phoneFamilies,
  'burst-durations': burstDurations,
  'filler-nibble': fillerNibble,
  'tcp-pcm-messages': tcpPcmMessages,
  'demo-terminals': demoTerminals,
  'demo-keys': demoKeys,
};
