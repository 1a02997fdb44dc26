// Fuzzing in the manner of moov-io/iso8583 fuzz_test.go: arbitrary and mutated input must either
// decode into a message that packs again identically, or fail with a catalogue code, never crash.
import fc from 'fast-check';
import { FixpayError } from '../../domain/errors';
import { FrameDecoder } from '../card-network/framing';
import { isoMessageArb } from './__fixtures__/arbitrary';
import { openEnvelope } from './envelope';
import { MessageCodec } from './message';
import { networkSpec, terminalSpec } from './specs';

const specs = [terminalSpec, networkSpec];

function decodeOrCatalogueError(codec: MessageCodec, bytes: Uint8Array): void {
  let msg;
  try {
    msg = codec.unpack(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(FixpayError);
    expect((e as FixpayError).code).toMatch(/^FP5\d{3}$/);
    return;
  }
  const again = codec.unpack(codec.pack(msg));
  expect(codec.pack(again).equals(codec.pack(msg))).toBe(true);
}

describe.each(specs.map((s) => [s.name, s] as const))('fuzzing spec %s', (_name, spec) => {
  const codec = new MessageCodec(spec);
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => decodeOrCatalogueError(codec, bytes)),
      { numRuns: 2000 },
    );
  });
  it('random bytes after a plausible MTI and bitmap', () => {
    const mti = spec.mti.encoding === 'BCD' ? Buffer.from([0x02, 0x00]) : Buffer.from('0200');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 300 }), (rest) =>
        decodeOrCatalogueError(codec, Buffer.concat([mti, rest])),
      ),
      { numRuns: 2000 },
    );
  });
  it('valid messages with flipped bytes, truncation and insertion', () => {
    const mutation = fc.record({
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
      kind: fc.constantFrom('flip', 'truncate', 'insert'),
    });
    fc.assert(
      fc.property(isoMessageArb(spec, 12), fc.array(mutation, { minLength: 1, maxLength: 3 }), (msg, mutations) => {
        let bytes = codec.pack(msg);
        for (const m of mutations) {
          const at = bytes.length === 0 ? 0 : m.at % bytes.length;
          if (m.kind === 'flip') {
            bytes = Buffer.from(bytes);
            bytes[at] = m.byte;
          } else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
          else bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at)]);
        }
        decodeOrCatalogueError(codec, bytes);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('fuzzing framing and envelope', () => {
  it('never throws anything but a catalogue error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }),
        fc.constantFrom('binary2' as const, 'ascii4' as const),
        (chunks, lengthPrefix) => {
          const decoder = new FrameDecoder({ lengthPrefix, frameBytesMax: 512 });
          try {
            for (const c of chunks) {
              for (const frame of decoder.push(Buffer.from(c))) {
                openEnvelope(frame, { tpduBytes: 5, applicationHeaderBytes: 6, lri: 'auto' });
              }
            }
          } catch (e) {
            expect(e).toBeInstanceOf(FixpayError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
