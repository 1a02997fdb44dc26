import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFixpayError } from '../../domain/errors';
import { BUILTIN_PROFILES_DIR, loadProfiles, parseProfile, requireProfile } from '.';

const text = (file: string): string => readFileSync(join(BUILTIN_PROFILES_DIR, file), 'utf8');

function expectInvalid(yaml: string, pattern: RegExp): void {
  try {
    parseProfile(yaml, 'test.yaml');
  } catch (e) {
    expect(isFixpayError(e, 'PROFILE_INVALID')).toBe(true);
    expect((e as Error).message).toMatch(pattern);
    return;
  }
  throw new Error('profile was accepted');
}

describe('device profiles', () => {
  it('loads the shipped profiles: a V.23 byte-sum one and a Bell 202 CRC-16 one', () => {
    const profiles = loadProfiles();
    const v23 = requireProfile(profiles, 'es201912-v23');
    expect(v23.modem.modulation).toBe('v23');
    expect(v23.link.check).toBe('sum8');
    const bell = requireProfile(profiles, 'bell202-crc16');
    expect(bell.modem.modulation).toBe('bell202');
    expect(bell.link.check).toBe('crc16-x25');
  });

  it('describes the device beyond its modem when the profile says so; unknown capabilities are refused', () => {
    const v23 = requireProfile(loadProfiles(), 'es201912-v23');
    expect(v23.terminal).toEqual({
      messages: 'cup-pos-terminal',
      display: { lines: 4, columns: 16 },
      capabilities: ['magstripe', 'pin-pad', 'printer'],
    });
    expect(requireProfile(loadProfiles(), 'bell202-crc16').terminal).toBeUndefined();
    const base = text('es201912-v23.yaml');
    expectInvalid(
      base.replace('capabilities: [magstripe, pin-pad, printer]', 'capabilities: [teleport]'),
      /capabilities/,
    );
    expectInvalid(base.replace('messages: cup-pos-terminal', 'messages: Bad Id'), /messages/);
  });

  it('reports an unknown profile id with PROFILE_NOT_FOUND', () => {
    expect(() => requireProfile(loadProfiles(), 'nope')).toThrow(/FP|profile/i);
    try {
      requireProfile(loadProfiles(), 'nope');
    } catch (e) {
      expect(isFixpayError(e, 'PROFILE_NOT_FOUND')).toBe(true);
    }
  });

  it('rejects schema violations', () => {
    expectInvalid(text('es201912-v23.yaml').replace('modulation: v23', 'modulation: v21'), /modulation|allowed/);
    expectInvalid(text('es201912-v23.yaml').replace('lengthBytes: 1', 'lengthBytes: 3'), /lengthBytes|allowed/);
    expectInvalid(text('es201912-v23.yaml') + '\nextra: 1\n', /additional/);
    expectInvalid('{', /YAML|not/);
  });

  it('rejects unsound link specs the schema cannot see', () => {
    expectInvalid(text('es201912-v23.yaml').replace('ack: 0x14', 'ack: 0x10'), /distinct/);
    expectInvalid(text('es201912-v23.yaml').replace('ack: 0x14', 'ack: 0x15'), /sequence bit/);
    expectInvalid(text('es201912-v23.yaml').replace('maxPayloadBytes: 255', 'maxPayloadBytes: 300'), /maxPayloadBytes/);
    expectInvalid(text('bell202-crc16.yaml').replace('est: 0x13', 'est: 0x55'), /0x55/);
  });
});
