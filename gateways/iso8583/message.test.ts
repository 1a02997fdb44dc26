import fc from 'fast-check';
import { FixpayError } from '../../domain/errors';
import { encodeFrame, FrameDecoder, readLength } from '../card-network/framing';
import { isoMessageArb } from './__fixtures__/arbitrary';
import { describeMessage } from './describe';
import { fromHex } from './encoding';
import { closeEnvelope, openEnvelope } from './envelope';
import type { IsoMessage } from './message';
import { isoMessage, MessageCodec } from './message';
import { prefixes } from './prefix';
import type { FieldSpec, MessageSpec } from './spec';
import { parseSpec, textEncodings } from './spec';
import { networkSpec, terminalSpec } from './specs';
import schema from '../../schema/iso8583-spec.schema.json';

/** Values compared as plain data: bytes as hex. */
function plain(msg: IsoMessage): unknown {
  const fields = [...msg.fields.entries()]
    .sort(([a], [b]) => a - b)
    .map(
      ([id, v]) =>
        [
          id,
          v instanceof Uint8Array
            ? Buffer.from(v).toString('hex')
            : Array.isArray(v)
              ? (v as { tag: string; value: Uint8Array }[]).map((t) => [t.tag, Buffer.from(t.value).toString('hex')])
              : v,
        ] as const,
    );
  return { mti: msg.mti, fields };
}

// Every combination of type × encoding × prefix (and padding, sub-fields, TLV), one field each.
function allPartsSpec(): MessageSpec {
  const kinds: Omit<FieldSpec, 'id' | 'name' | 'prefix' | 'length'>[] = [
    { type: 'n', encoding: 'BCD', padding: 'left' },
    { type: 'n', encoding: 'BCD', padding: 'right' },
    { type: 'n', encoding: 'ASCII' },
    { type: 'a', encoding: 'ASCII' },
    { type: 'an', encoding: 'ASCII' },
    { type: 'ans', encoding: 'ASCII' },
    { type: 'z', encoding: 'Track', padding: 'right' },
    { type: 'z', encoding: 'Track', padding: 'left' },
    { type: 'z', encoding: 'ASCII' },
    { type: 'b', encoding: 'Binary' },
  ];
  const fields: FieldSpec[] = [];
  let id = 2;
  const next = (): number => {
    const v = id++;
    return v === 65 ? id++ : v;
  };
  for (const kind of kinds) {
    for (const prefix of Object.keys(prefixes) as (keyof typeof prefixes)[]) {
      fields.push({
        ...kind,
        id: next(),
        name: `f${id}`,
        prefix,
        length: prefix === 'Fixed' ? 7 : prefix.endsWith('LLL') ? 150 : 60,
      });
    }
  }
  const subs = [
    { id: '1', name: 'a', type: 'n' as const, length: 2 },
    { id: '2', name: 'b', type: 'n' as const, length: 3, optional: true },
  ];
  fields.push({
    id: next(),
    name: 'bcdComposite',
    type: 'n',
    encoding: 'BCD',
    prefix: 'BCD.LLL',
    length: 17,
    padding: 'right',
    subfields: subs,
  });
  fields.push({
    id: next(),
    name: 'bcdFixedComposite',
    type: 'n',
    encoding: 'BCD',
    prefix: 'Fixed',
    length: 5,
    subfields: [
      { ...subs[0]!, id: '1' },
      { id: '2', name: 'b', type: 'n', length: 3 },
    ],
  });
  fields.push({
    id: next(),
    name: 'asciiComposite',
    type: 'ans',
    encoding: 'ASCII',
    prefix: 'ASCII.LLL',
    length: 20,
    subfields: [
      { id: '1', name: 'a', type: 'an', length: 4 },
      { id: '2', name: 'b', type: 'ans', length: 6, optional: true },
    ],
  });
  fields.push({
    id: next(),
    name: 'binaryComposite',
    type: 'b',
    encoding: 'Binary',
    prefix: 'Binary.LL',
    length: 30,
    subfields: [
      { id: '1', name: 'k', type: 'b', length: 8 },
      { id: '2', name: 'cv', type: 'b', length: 4, optional: true },
    ],
  });
  for (const prefix of ['BCD.LLL', 'ASCII.LLL', 'Binary.LLL'] as const) {
    fields.push({ id: next(), name: `tlv${id}`, type: 'b', encoding: 'Binary', prefix, length: 255, tlv: true });
  }
  return parseSpec(
    {
      name: 'all-parts',
      version: '1',
      mti: { encoding: 'BCD' },
      bitmap: { encoding: 'HexASCII', secondary: true },
      fields,
    },
    'all-parts',
  );
}

describe('spec files', () => {
  it('name exactly the parts in the typed registries', () => {
    const fieldProps = schema.definitions.field.properties;
    expect([...fieldProps.prefix.enum].sort()).toEqual(Object.keys(prefixes).sort());
    expect([...fieldProps.encoding.enum].sort()).toEqual([...Object.keys(textEncodings), 'Binary'].sort());
  });
  it('are refused when parts do not fit together', () => {
    const bad = {
      name: 'bad',
      version: '1',
      mti: { encoding: 'BCD' },
      bitmap: { encoding: 'Binary', secondary: false },
      fields: [
        { id: 2, name: 'pan', type: 'an', encoding: 'BCD', prefix: 'BCD.LL', length: 19 },
        { id: 70, name: 'nmi', type: 'n', encoding: 'ASCII', prefix: 'Fixed', length: 3 },
        { id: 35, name: 'track2', type: 'z', encoding: 'ASCII', prefix: 'BCD.LL', length: 120 },
      ],
    };
    expect(() => parseSpec(bad, 'bad')).toThrow(
      /encoding BCD needs type n.*bitmap.secondary.*cannot|exceeds what BCD.LL/s,
    );
    expect(() => parseSpec({ ...bad, fields: [{ id: 2, name: 'x', type: 'q' }] }, 'bad')).toThrow(FixpayError);
  });
});

describe('MessageCodec', () => {
  const specs = { terminal: terminalSpec, network: networkSpec, 'all-parts': allPartsSpec() };
  it.each(Object.keys(specs) as (keyof typeof specs)[])('round-trips any valid message of spec %s', (name) => {
    const spec = specs[name];
    const codec = new MessageCodec(spec, { messageBytesMax: 65536 });
    fc.assert(
      fc.property(isoMessageArb(spec), (msg) => {
        const bytes = codec.pack(msg);
        const back = codec.unpack(bytes);
        expect(plain(back)).toEqual(plain(msg));
        expect(codec.pack(back).equals(bytes)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses values that do not fit their field, naming the field but not the value', () => {
    const codec = new MessageCodec(terminalSpec);
    const tooLong = isoMessage('0200', { 2: '62258812345678901234' });
    expect(() => codec.pack(tooLong)).toThrow(/field 2: length 20, maximum 19/);
    expect(() => codec.pack(isoMessage('0200', { 11: '12345' }))).toThrow(/field 11: length 5, expected 6/);
    expect(() => codec.pack(isoMessage('0200', { 3: '00000A' }))).toThrow(FixpayError);
    expect(() => codec.pack(isoMessage('0200', { 90: '1' }))).toThrow(/not in spec/);
    try {
      codec.pack(tooLong);
    } catch (e) {
      expect(String(e)).not.toContain('6225881234');
    }
  });

  it('reports a bitmap naming an undefined field, and trailing bytes', () => {
    const codec = new MessageCodec(terminalSpec);
    // MTI 0200, bitmap with field 5 (not in the terminal spec).
    expect(() => codec.unpack(fromHex('0200' + '0800000000000000'))).toThrow(/bitmap sets field 5/);
    // Secondary bitmap on a spec without one.
    expect(() => codec.unpack(fromHex('0200' + '8000000000000000'))).toThrow(/secondary bitmap/);
    const ok = codec.pack(isoMessage('0800', { 11: '000001' }));
    expect(() => codec.unpack(Buffer.concat([ok, Buffer.from([0])]))).toThrow(/1 bytes after the last field/);
    expect(() => codec.unpack(ok.subarray(0, ok.length - 1))).toThrow(/field 11: value is truncated/);
  });
});

describe('the public example of payments.md §2.1', () => {
  // Source: payments.md §2.1 [S38]: "019D 60 0004 0000 60 22 00 00 00 00 0200 702406C020C0BA93 …".
  // Only this prefix is public; the card data of that vector is not reproduced.
  const prefix = fromHex('019D' + '6000040000' + '602200000000' + '0200' + '702406C020C0BA93');
  const expectedFields = [2, 3, 4, 11, 14, 22, 23, 25, 26, 35, 41, 42, 49, 51, 52, 53, 55, 57, 60, 63, 64];

  it('decodes length, TPDU, application header, MTI and bitmap as the reference describes', () => {
    expect(readLength(prefix, 'binary2')).toBe(0x019d);
    const env = openEnvelope(prefix.subarray(2), { tpduBytes: 5, applicationHeaderBytes: 6, lri: 'auto' });
    expect(env.tpdu).toEqual({ id: 0x60, destination: '0004', source: '0000' });
    expect(env.applicationHeader).toBe('602200000000');
    expect(env.lri).toBeUndefined();
    expect(env.body.subarray(0, 2).toString('hex')).toBe('0200');
    const bitmap = env.body.subarray(2, 10);
    const set = [];
    for (let i = 0; i < 64; i++) if ((bitmap[i >> 3]! & (0x80 >> (i & 7))) !== 0) set.push(i + 1);
    expect(set).toEqual(expectedFields);
  });

  it('a message with the same fields packs to that layout and unpacks with the codec', () => {
    const codec = new MessageCodec(terminalSpec);
    const msg = isoMessage('0200', {
      2: '6225880000000000003',
      3: '000000',
      4: '000000000100',
      11: '000001',
      14: '2912',
      22: '051',
      23: '001',
      25: '00',
      26: '12',
      35: '6225880000000000003=29122010000',
      41: '12345678',
      42: '123456789012345',
      49: '156',
      51: '156',
      52: Buffer.alloc(8, 0xaa),
      53: '2600000000000000',
      55: [
        { tag: '9F26', value: Buffer.alloc(8, 1) },
        { tag: '9F27', value: Buffer.from([0x80]) },
      ],
      57: 'X',
      60: { '1': '22', '2': '000001', '3': '000', '4': '5', '5': '0' },
      63: { '1': 'CUP' },
      64: Buffer.alloc(8, 0x11),
    });
    const body = codec.pack(msg);
    const frame = encodeFrame(
      closeEnvelope(
        { tpdu: { id: 0x60, destination: '0004', source: '0000' }, applicationHeader: '602200000000' },
        body,
        { tpduBytes: 5, applicationHeaderBytes: 6, lri: 'never' },
      ),
      { lengthPrefix: 'binary2' },
    );
    expect(frame.subarray(2, 2 + 5 + 6 + 2 + 8).equals(prefix.subarray(2))).toBe(true);
    const [payload] = new FrameDecoder({ lengthPrefix: 'binary2' }).push(frame);
    const env = openEnvelope(payload!, { tpduBytes: 5, applicationHeaderBytes: 6, lri: 'never' });
    const back = codec.unpack(env.body);
    expect([...back.fields.keys()].sort((a, b) => a - b)).toEqual(expectedFields);
    const text = describeMessage(back, terminalSpec);
    expect(text).toContain('622588*********0003');
    expect(text).not.toContain('6225880000000000003');
    expect(text).not.toContain('AAAAAAAA');
  });
});

describe('the dial-up LRI block', () => {
  it('carries the caller number between TPDU and header', () => {
    const opts = { tpduBytes: 5 as const, applicationHeaderBytes: 6, lri: ['6000020000'] };
    const lri = { ani: '02087654321', dnis: '95516', tail: '00'.repeat(12) };
    const payload = closeEnvelope(
      { tpdu: { id: 0x60, destination: '0002', source: '0000' }, lri, applicationHeader: '603100000000' },
      fromHex('0800'),
      opts,
    );
    expect(payload.length).toBe(5 + 33 + 6 + 2);
    expect(payload.subarray(5, 10).toString('hex')).toBe('4c5249001c');
    const env = openEnvelope(payload, opts);
    expect(env.lri).toEqual(lri);
    expect(env.applicationHeader).toBe('603100000000');
    const without = closeEnvelope(
      { tpdu: { id: 0x60, destination: '0002', source: '0000' }, applicationHeader: '603100000000' },
      fromHex('0800'),
      opts,
    );
    expect(() => openEnvelope(without, opts)).toThrow(/LRI block is missing/);
  });
});
