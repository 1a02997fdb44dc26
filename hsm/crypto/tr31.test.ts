/**
 * TR-31 key blocks, checked against the TR-31:2018 Annex A examples (A.7.3 version B, A.7.4
 * version D, as reproduced in public TR-31 implementations) and psec's documented version B block.
 */
import fc from 'fast-check';
import { fromHex, toHex } from './bytes';
import { deriveKeyBlockKeys, KeyBlockError, parseKeyBlockHeader, unwrapKeyBlock, wrapKeyBlock } from './tr31';

describe('TR-31 key blocks', () => {
  it('TR-31:2018 A.7.3 (version B): unwraps P0 key 3F419E1CB7079442AA37474C2EFBF8B8', () => {
    const keys = deriveKeyBlockKeys('B', fromHex('DD7515F2BFC17F85CE48F3CA25CB21F6'));
    const block = 'B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B727B8A248E';
    const { header, key } = unwrapKeyBlock(keys, block);
    expect(toHex(key)).toBe('3F419E1CB7079442AA37474C2EFBF8B8');
    expect(header).toMatchObject({ keyUsage: 'P0', algorithm: 'T', modeOfUse: 'E', exportability: 'E' });
  });

  it('TR-31:2018 A.7.4 (version D): wraps with the published pad to the published block, and back', () => {
    const keys = deriveKeyBlockKeys('D', fromHex('88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6'));
    const expected =
      'D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34';
    const header = {
      keyUsage: 'P0',
      algorithm: 'A',
      modeOfUse: 'E',
      keyVersion: '00',
      exportability: 'E',
      optionalBlocks: [],
    } as const;
    const block = wrapKeyBlock(
      keys,
      header,
      fromHex('3F419E1CB7079442AA37474C2EFBF8B8'),
      fromHex('1C2965473CE206BB855B01533782'),
    );
    expect(block).toBe(expected);
    expect(toHex(unwrapKeyBlock(keys, expected).key)).toBe('3F419E1CB7079442AA37474C2EFBF8B8');
  });

  it('psec documentation block B0096P0TE00N0000… unwraps to CCCCCCCCDDDDDDDD under FFFFFFFFEEEEEEEE (ASCII keys)', () => {
    const keys = deriveKeyBlockKeys('B', Buffer.from('FFFFFFFFEEEEEEEE', 'ascii'));
    const block = 'B0096P0TE00N0000A800A7D1A4C0C1BE762177E1CC59D84844EB67C9F6432B2CA34187AE2E0385EBEE2231697BC5DAE8';
    expect(unwrapKeyBlock(keys, block).key.toString('ascii')).toBe('CCCCCCCCDDDDDDDD');
  });

  it('round-trips keys with optional blocks and refuses tampering or a wrong KBPK (property)', () => {
    const keysD = deriveKeyBlockKeys('D', fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F'));
    const keysB = deriveKeyBlockKeys('B', fromHex('0123456789ABCDEFFEDCBA9876543210'));
    const other = deriveKeyBlockKeys('D', fromHex('1F1E1D1C1B1A191817161514131211100F0E0D0C0B0A09080706050403020100'));
    fc.assert(
      fc.property(
        fc.constantFrom(8, 16, 24, 32),
        fc.stringMatching(/^[A-Z0-9]{0,20}$/),
        fc.boolean(),
        (length, data, useB) => {
          const keys = useB && length <= 24 ? keysB : keysD;
          const key = Buffer.alloc(length, 0x5a);
          const header = {
            keyUsage: 'M3',
            algorithm: 'T',
            modeOfUse: 'C',
            keyVersion: '01',
            exportability: 'N',
            optionalBlocks: data === '' ? [] : [{ id: '0T', data }],
          } as const;
          const block = wrapKeyBlock(keys, header, key);
          const out = unwrapKeyBlock(keys, block);
          expect(out.key.equals(key)).toBe(true);
          expect(out.header.optionalBlocks).toEqual(header.optionalBlocks);
          expect(parseKeyBlockHeader(block).headerLength % (keys.version === 'B' ? 8 : 16)).toBe(0);
          const tampered = block.slice(0, 5) + 'P0' + block.slice(7);
          expect(() => unwrapKeyBlock(keys, tampered)).toThrow(KeyBlockError);
          if (keys === keysD) expect(() => unwrapKeyBlock(other, block)).toThrow(KeyBlockError);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('refuses deprecated variant-binding versions A and C', () => {
    expect(() =>
      parseKeyBlockHeader('A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701'),
    ).toThrow(KeyBlockError);
  });
});
