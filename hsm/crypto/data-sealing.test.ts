import { gcmOpen, gcmSeal, SealError } from './data-sealing';

const h = (s: string): Buffer => Buffer.from(s, 'hex');

describe('AES-GCM data sealing', () => {
  // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", appendix B, test case 16
  // (AES-256, 96-bit IV, with additional authenticated data).
  const tc16 = {
    key: h('feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308'),
    iv: h('cafebabefacedbaddecaf888'),
    plaintext: h(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    ),
    aad: h('feedfacedeadbeeffeedfacedeadbeefabaddad2'),
    ciphertext: h(
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    ),
    tag: h('76fc6ece0f4e1768cddf8853bb2d551b'),
  };

  it('seals the GCM specification test case 16', () => {
    const out = gcmSeal(tc16.key, tc16.iv, tc16.plaintext, tc16.aad);
    expect(out.ciphertext.toString('hex')).toBe(tc16.ciphertext.toString('hex'));
    expect(out.tag.toString('hex')).toBe(tc16.tag.toString('hex'));
  });

  it('opens test case 16 and refuses it altered', () => {
    expect(gcmOpen(tc16.key, tc16.iv, tc16.ciphertext, tc16.tag, tc16.aad).toString('hex')).toBe(
      tc16.plaintext.toString('hex'),
    );
    const flipped = Buffer.from(tc16.ciphertext);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(() => gcmOpen(tc16.key, tc16.iv, flipped, tc16.tag, tc16.aad)).toThrow(SealError);
    expect(() => gcmOpen(tc16.key, tc16.iv, tc16.ciphertext, tc16.tag, h('00'))).toThrow(SealError);
    expect(() => gcmOpen(tc16.key.subarray(0, 16), tc16.iv, tc16.ciphertext, tc16.tag, tc16.aad)).toThrow(SealError);
  });

  it('refuses bad key, IV and tag lengths', () => {
    expect(() => gcmSeal(h('00'), tc16.iv, tc16.plaintext)).toThrow(SealError);
    expect(() => gcmSeal(tc16.key, h('00'), tc16.plaintext)).toThrow(SealError);
    expect(() => gcmOpen(tc16.key, tc16.iv, tc16.ciphertext, h('00'))).toThrow(SealError);
  });
});
