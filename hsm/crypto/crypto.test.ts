/**
 * Every vector in shared/reference/payments.md §4 "Test vectors", each test naming its source
 * (the [Sxx] tags of that document), plus the TR-31:2018 Annex A examples for key blocks.
 */
import fc from 'fast-check';
import { blockCipher } from './block-cipher';
import { fromHex, hasOddParity, toHex, withOddParity, xor } from './bytes';
import {
  aesInitialKey,
  aesTransactionKey,
  aesWorkingKey,
  KsnError,
  tdesCurrentKey,
  tdesIpek,
  tdesWorkingKey,
} from './dukpt';
import { cmac, keyCheckValue, macAlgorithm1, macAlgorithm3, pad9797, unionPayEcbMac } from './mac';
import type { MacPadding } from './mac';
import { pbocDiversify, pbocSessionInput, pbocSessionKey } from './pboc';
import {
  decipherFormat4,
  decodePinBlock,
  encipherFormat4,
  encodePinBlock,
  panField4,
  PinBlockError,
  pinField4,
  readPinField4,
} from './pin-block';

const ascii = (s: string): Buffer => Buffer.from(s, 'ascii');
const tdes = (hex: string) => blockCipher('tdes', fromHex(hex));
const des = (hex: string) => blockCipher('des', fromHex(hex));
const x919 = (keyHex: string, data: Buffer, padding: MacPadding = 1): string => {
  const key = fromHex(keyHex);
  return toHex(
    macAlgorithm3(blockCipher('des', key.subarray(0, 8)), blockCipher('des', key.subarray(8, 16)), data, padding),
  );
};

describe('KCV and parity (payments.md §4 "KCV / parity")', () => {
  it('KCV of 0123456789ABCDEFFEDCBA9876543210 is 08D7B4 [S46] (verified)', () => {
    const key = fromHex('0123456789ABCDEFFEDCBA9876543210');
    expect(hasOddParity(key)).toBe(true);
    expect(toHex(keyCheckValue(blockCipher('tdes', key)))).toBe('08D7B4');
  });

  it('KCV of single DES 0123456789ABCDEF is D5D44F (unpublished, regression)', () => {
    expect(toHex(keyCheckValue(des('0123456789ABCDEF')))).toBe('D5D44F');
  });

  it('parity adjust 1A2B3C4D5F0A1B2C4D5F6A7B8C9D0F1A → 1A2A3D4C5E0B1A2C4C5E6B7A8C9D0E1A [S46] (verified)', () => {
    const adjusted = withOddParity(fromHex('1A2B3C4D5F0A1B2C4D5F6A7B8C9D0F1A'));
    expect(toHex(adjusted)).toBe('1A2A3D4C5E0B1A2C4C5E6B7A8C9D0E1A');
    expect(hasOddParity(adjusted)).toBe(true);
  });
});

describe('ISO 9564 PIN blocks (payments.md §4 "ISO 9564 PIN blocks")', () => {
  it.each([
    ['1234', '5432101234567891', '041215FEDCBA9876', '[S47] (verified)'],
    ['1234', '5555555551234567', '041261AAAAEDCBA9', '[S46] (verified)'],
    ['123456789012', '5555555551234567', '0C1261032D8226A9', '[S46]'],
    ['1234', '4012345678909', '041274EDCBA9876F', '[S41] (verified)'],
    ['1234', '4111111111111111', '041225EEEEEEEEEE', '(unpublished, regression)'],
  ])('format 0, PIN %s, PAN %s → %s %s', (pin, pan, block) => {
    expect(toHex(encodePinBlock(0, pin, pan))).toBe(block);
    expect(decodePinBlock(0, fromHex(block), pan)).toBe(pin);
  });

  it('format 3 starts 341261… with A–F fill and decodes 341261AAAAEDCBA9 → 1234 [S46]', () => {
    const block = encodePinBlock(3, '1234', '5555555551234567');
    expect(toHex(block).slice(0, 6)).toBe('341261');
    expect(decodePinBlock(3, block, '5555555551234567')).toBe('1234');
    expect(decodePinBlock(3, fromHex('341261AAAAEDCBA9'), '5555555551234567')).toBe('1234');
  });

  it('format 2: 1234 → 241234FFFFFFFFFF [S46][S47]', () => {
    expect(toHex(encodePinBlock(2, '1234'))).toBe('241234FFFFFFFFFF');
    expect(decodePinBlock(2, fromHex('241234FFFFFFFFFF'))).toBe('1234');
  });

  it('format 1 carries no PAN and a transaction-unique fill', () => {
    const a = encodePinBlock(1, '1234');
    expect(toHex(a).slice(0, 6)).toBe('141234');
    expect(decodePinBlock(1, a)).toBe('1234');
  });

  it('format 4 ep2 vector: CC17F65586BFD0953010226C4FC5B3CA → 1234, field 441234AAAAAAAAAA146C6601F4A8035C [S46] (verified)', () => {
    const aes = blockCipher('aes', fromHex('C1D0F8FB4958670DBA40AB1F3752EF0D'));
    const pan = '432198765432109870';
    const block = fromHex('CC17F65586BFD0953010226C4FC5B3CA');
    expect(decipherFormat4(aes, block, pan)).toBe('1234');
    const field = aes.decrypt(xor(aes.decrypt(block), panField4(pan)));
    expect(toHex(field)).toBe('441234AAAAAAAAAA146C6601F4A8035C');
    expect(readPinField4(field)).toBe('1234');
  });

  it('format 4 with fill forced to FF → 28B41FDDD29B743E93124BD8E32D921E [S46]', () => {
    const aes = blockCipher('aes', fromHex('00112233445566778899AABBCCDDEEFF'));
    const block = encipherFormat4(aes, '1234', '1234567890123456789', Buffer.alloc(8, 0xff));
    expect(toHex(block)).toBe('28B41FDDD29B743E93124BD8E32D921E');
  });

  it('AES format 4 PAN field for 4111111111111111 is 44111111111111111000000000000000 [S41]', () => {
    expect(toHex(panField4('4111111111111111'))).toBe('44111111111111111000000000000000');
    expect(toHex(pinField4('1234', fromHex('2F69ADDE2E9E7ACE')))).toBe('441234AAAAAAAAAA2F69ADDE2E9E7ACE');
  });

  it('round-trips every format for any PIN and PAN (property)', () => {
    const aes = blockCipher('aes', fromHex('00112233445566778899AABBCCDDEEFF'));
    fc.assert(
      fc.property(fc.stringMatching(/^\d{4,12}$/), fc.stringMatching(/^\d{12,19}$/), (pin, pan) => {
        for (const f of [0, 1, 2, 3] as const) expect(decodePinBlock(f, encodePinBlock(f, pin, pan), pan)).toBe(pin);
        expect(decipherFormat4(aes, encipherFormat4(aes, pin, pan), pan)).toBe(pin);
      }),
      { numRuns: 100 },
    );
  });

  it('rejects a block deciphered with the wrong key and PINs out of range', () => {
    expect(() => decodePinBlock(0, fromHex('0123456789ABCDEF'), '4012345678909')).toThrow(PinBlockError);
    expect(() => encodePinBlock(0, '123', '4012345678909')).toThrow(PinBlockError);
    expect(() => encodePinBlock(0, '1234567890123', '4012345678909')).toThrow(PinBlockError);
  });
});

describe('ANSI X9.24-1:2009 TDES DUKPT (payments.md §4, Annex A.4) [S41][S12b]', () => {
  const bdk = fromHex('0123456789ABCDEFFEDCBA9876543210');
  const ipek = tdesIpek(bdk, fromHex('FFFF9876543210E00000'));
  const macData = ascii('4012345678909D987');
  const clearPinBlock = encodePinBlock(0, '1234', '4012345678909');

  it('IPEK 6AC292FAA1315B4D858AB3A3D7D5933A (verified), KCV AF8C07 (unpublished)', () => {
    expect(toHex(ipek)).toBe('6AC292FAA1315B4D858AB3A3D7D5933A');
    expect(toHex(keyCheckValue(blockCipher('tdes', ipek)))).toBe('AF8C07');
    expect(toHex(clearPinBlock)).toBe('041274EDCBA9876F');
  });

  it.each([
    [
      'FFFF9876543210E00001',
      '042666B49184CFA368DE9628D0397BC9',
      '1B9C1845EB993A7A',
      '9CCC78173FC4FB64',
      '20364223C1FF00FA',
    ],
    [
      'FFFF9876543210E00002',
      'C46551CEF9FD24B0AA9AD834130D3BC7',
      '10A01C8D02C69107',
      'F608A9BCA6FFC311',
      'D1FCA6BEF05D24D2',
    ],
    [
      'FFFF9876543210E00003',
      '0DF3D9422ACA56E547676D07AD6BADFA',
      '18DC07B94797B466',
      '20B59A4FEAC937E3',
      'BAD4CC9CC2AE326C',
    ],
    ['FFFF9876543210E00004', '279C0F6AEED0BE652B2C733E1383AE91', '0BC79509D5645DF7', 'C7BFA6CC', '1EB08AEE'],
    ['FFFF9876543210E00005', '5F8DC6D2C845C125508DDC048093B83F', '5BC0AF22AD87B327', '0202B963', '5CBE3E81'],
  ])('KSN %s → key %s, PIN block %s, MACs %s / %s', (ksnHex, current, pinBlock, macRequest, macResponse) => {
    const ksn = fromHex(ksnHex);
    const key = tdesCurrentKey(ipek, ksn);
    expect(toHex(key)).toBe(current);
    expect(toHex(blockCipher('tdes', tdesWorkingKey(key, 'pin')).encrypt(clearPinBlock))).toBe(pinBlock);
    expect(x919(toHex(tdesWorkingKey(key, 'macRequest')), macData).startsWith(macRequest)).toBe(true);
    expect(x919(toHex(tdesWorkingKey(key, 'macResponse')), macData).startsWith(macResponse)).toBe(true);
  });

  it('refuses a zero counter', () => {
    expect(() => tdesCurrentKey(ipek, fromHex('FFFF9876543210E00000'))).toThrow(KsnError);
  });
});

describe('ANSI X9.24-3:2017 AES-128 DUKPT (payments.md §4) [S41][S12b]', () => {
  const bdk = fromHex('FEDCBA9876543210F1F1F1F1F1F1F1F1');
  const initialKey = aesInitialKey(bdk, fromHex('1234567890123456'));

  it('initial key 1273671EA26AC29AFA4D1084127652A1 (verified)', () => {
    expect(toHex(initialKey)).toBe('1273671EA26AC29AFA4D1084127652A1');
  });

  it.each([
    ['123456789012345600000001', '4F21B565BAD9835E112B6465635EAE44', 'AF8CB133A78F8DC2D1359F18527593FB'],
    ['123456789012345600000002', '2F34D68DE10F68D38091A73B9E7C437C', 'D30BDC73EC9714B000BEC66BDB7B6D09'],
    ['123456789012345600000003', '031504E530365CF81264238540518318', '7D69F01F3B45449F62C7816ECE723268'],
  ])('KSN %s → transaction key %s, PIN key %s', (ksnHex, transaction, pinKey) => {
    const ksn = fromHex(ksnHex);
    const key = aesTransactionKey(initialKey, ksn);
    expect(toHex(key)).toBe(transaction);
    expect(toHex(aesWorkingKey(key, ksn, 'pinEncryption'))).toBe(pinKey);
  });
});

describe('MACs: ISO/IEC 9797-1, ANSI X9.19, X9.9 (payments.md §4 "MACs")', () => {
  const key = '0123456789ABCDEFFEDCBA9876543210';
  const nowIsTheTime = ascii('Now is the time for all ');

  it('alg 3 (X9.19), zero padding → A1C72E74EA3FA9B6 [S53] (verified)', () => {
    expect(x919(key, nowIsTheTime)).toBe('A1C72E74EA3FA9B6');
  });

  it('alg 3, "Now is the time for it", padding 1 → 2E2B1428CC78254F [S53] (verified)', () => {
    expect(x919(key, ascii('Now is the time for it'))).toBe('2E2B1428CC78254F');
  });

  it('alg 3, padding method 2 → E9086230CA3BE796 (verified; public JavaScript test code)', () => {
    expect(x919(key, nowIsTheTime, 2)).toBe('E9086230CA3BE796');
  });

  it('alg 1 single-DES CBC-MAC (X9.9) → 70A30640CC76DD8B (verified; public C# test code)', () => {
    expect(toHex(macAlgorithm1(des('0123456789ABCDEF'), nowIsTheTime))).toBe('70A30640CC76DD8B');
  });

  it('alg 1 with two-key 3DES → 93462A6DB9B4A4D1 (unpublished, regression)', () => {
    expect(toHex(macAlgorithm1(tdes(key), nowIsTheTime))).toBe('93462A6DB9B4A4D1');
  });

  it.each([
    [1, '3DDE5C5511661CBF'],
    [2, 'E16941032C3BC7D4'],
    [3, 'BA90F750EF43F668'],
  ] as const)('psec alg 3, K=41…, K′=42…, "hello world", padding %d → %s [S46]', (padding, mac) => {
    expect(x919('4141414141414141' + '4242424242424242', ascii('hello world'), padding)).toBe(mac);
  });

  it('psec 3DES CBC-MAC, key AAAA…BBBB, "hello world", padding 1 → 68D9038F23360DF3 [S46] (verified)', () => {
    expect(toHex(macAlgorithm1(tdes('AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB'), ascii('hello world')))).toBe(
      '68D9038F23360DF3',
    );
  });

  it('pads by ISO/IEC 9797-1 methods 1–3', () => {
    expect(toHex(pad9797(fromHex('0102'), 1, 8))).toBe('0102000000000000');
    expect(toHex(pad9797(fromHex('0102'), 2, 8))).toBe('0102800000000000');
    expect(toHex(pad9797(fromHex('0102'), 3, 8))).toBe('00000000000000100102000000000000');
    expect(toHex(pad9797(fromHex('0102030405060708'), 2, 8))).toBe('01020304050607088000000000000000');
  });
});

describe('UnionPay ECB MAC (payments.md §4; algorithm from [S32][S36], unpublished values)', () => {
  it('key 0123456789ABCDEF, "Now is the time for all " → 1E7AAB78', () => {
    expect(unionPayEcbMac(des('0123456789ABCDEF'), ascii('Now is the time for all ')).toString('ascii')).toBe(
      '1E7AAB78',
    );
  });

  it('key 5CBE7E38A146FD5C ([S36] main), data 010203 → F11F2C27', () => {
    expect(unionPayEcbMac(des('5CBE7E38A146FD5C'), fromHex('010203')).toString('ascii')).toBe('F11F2C27');
  });
});

describe('PBOC diversification and session key (payments.md §4; algorithm from [S40], unpublished values)', () => {
  const mk = fromHex('0123456789ABCDEFFEDCBA9876543210');
  const child = pbocDiversify(mk, fromHex('1122334455667788'));

  it('MK + factor 1122334455667788 → child key 3EB3B72576BBBE831355AB0EE3123AE8', () => {
    expect(toHex(child)).toBe('3EB3B72576BBBE831355AB0EE3123AE8');
  });

  it('child key, R = AABBCCDD, counter 0001 (input AABBCCDD00018000) → session key D106C17403CA778A', () => {
    expect(toHex(pbocSessionInput(fromHex('AABBCCDD'), 1))).toBe('AABBCCDD00018000');
    expect(toHex(pbocSessionKey(child, fromHex('AABBCCDD'), 1))).toBe('D106C17403CA778A');
  });
});

describe('CMAC (NIST SP 800-38B examples)', () => {
  const aes = blockCipher('aes', fromHex('2B7E151628AED2A6ABF7158809CF4F3C'));
  it('AES-128 CMAC of the empty message and of one block (SP 800-38B D.1)', () => {
    expect(toHex(cmac(aes, Buffer.alloc(0)))).toBe('BB1D6929E95937287FA37D129B756746');
    expect(toHex(cmac(aes, fromHex('6BC1BEE22E409F96E93D7E117393172A')))).toBe('070A16B46B4D4144F79BDD9DD04A287C');
  });
  it('AES-128 CMAC of 40 bytes (SP 800-38B D.1 example 3)', () => {
    const msg = fromHex('6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411');
    expect(toHex(cmac(aes, msg))).toBe('DFA66747DE9AE63030CA32611497C827');
  });
});

describe('block cipher contexts', () => {
  it('CBC round-trips and reuses one ECB context across calls', () => {
    const c = tdes('0123456789ABCDEFFEDCBA9876543210');
    const data = fromHex('00112233445566778899AABBCCDDEEFF0011223344556677');
    const iv = fromHex('0102030405060708');
    expect(toHex(c.cbcDecrypt(c.cbcEncrypt(data, iv), iv))).toBe(toHex(data));
    expect(toHex(c.encrypt(Buffer.alloc(8)))).toBe(toHex(c.encrypt(Buffer.alloc(8))));
  });
});
