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

  it('ships four phone families: different modems, lead-ins, checks, displays, printers, menu memory, inputs', () => {
    const profiles = loadProfiles();
    const family = (id: string): unknown => {
      const p = requireProfile(profiles, id);
      return {
        modem: [p.modem.modulation, p.modem.leadInMarkBits, p.modem.seizureBytes],
        link: [p.link.lengthBytes, p.link.check, p.link.checkByteOrder],
        display: p.terminal?.display,
        printer: p.terminal?.printer,
        menuMemory: p.terminal?.menuMemory,
        input: p.terminal?.input,
      };
    };
    expect(family('es201912-v23')).toEqual({
      modem: ['v23', 80, 0],
      link: [1, 'sum8', 'big'],
      display: { lines: 4, columns: 16, charset: 'iso-8859-1' },
      printer: { columns: 24 },
      menuMemory: { entries: 64 },
      input: ['numeric-keypad', 'function-keys', 'magstripe-reader'],
    });
    expect(family('bell202-crc16')).toEqual({
      modem: ['bell202', 80, 30],
      link: [2, 'crc16-x25', 'little'],
      display: { lines: 4, columns: 20, charset: 'gb2312' },
      printer: { columns: 32 },
      menuMemory: { bytes: 16384, entries: 128 },
      input: ['numeric-keypad', 'function-keys', 'navigation-keys', 'magstripe-reader', 'chip-reader'],
    });
    expect(family('v23-compact-crc16')).toEqual({
      modem: ['v23', 8, 0],
      link: [2, 'crc16-ccitt-false', 'big'],
      display: { lines: 2, columns: 16, charset: 'ascii' },
      printer: 'none',
      menuMemory: { entries: 16 },
      input: ['numeric-keypad', 'magstripe-reader'],
    });
    expect(family('bell202-kermit-desk')).toEqual({
      modem: ['bell202', 12, 0],
      link: [2, 'crc16-kermit', 'little'],
      display: { lines: 8, columns: 21, charset: 'gbk' },
      printer: { columns: 40 },
      menuMemory: { bytes: 65536, entries: 512 },
      input: [
        'numeric-keypad',
        'alpha-keypad',
        'function-keys',
        'navigation-keys',
        'magstripe-reader',
        'chip-reader',
        'contactless-reader',
      ],
    });
    expect(profiles.size).toBe(4);
  });

  it('describes the device beyond its modem; unknown or inconsistent terminal fields are refused', () => {
    const v23 = requireProfile(loadProfiles(), 'es201912-v23');
    expect(v23.terminal?.messages).toBe('cup-pos-terminal');
    expect(v23.terminal?.capabilities).toEqual(['magstripe', 'pin-pad', 'printer']);
    const base = text('es201912-v23.yaml');
    // The terminal section is optional, but complete when present.
    const noTerminal = base.replace(/^terminal:\n(?: {2}.*\n)+/m, '');
    expect(parseProfile(noTerminal, 'test.yaml').terminal).toBeUndefined();
    expectInvalid(base.replace('  menuMemory: { entries: 64 }\n', ''), /menuMemory/);
    expectInvalid(base.replace('charset: iso-8859-1', 'charset: ebcdic'), /charset|allowed/);
    expectInvalid(base.replace('lines: 4, columns: 16', 'lines: 4, columns: 4'), /columns/);
    expectInvalid(base.replace('printer: { columns: 24 }', 'printer: { columns: 8 }'), /printer/);
    expectInvalid(base.replace('printer: { columns: 24 }', 'printer: yes'), /printer/);
    expectInvalid(base.replace('menuMemory: { entries: 64 }', 'menuMemory: {}'), /menuMemory/);
    expectInvalid(base.replace('menuMemory: { entries: 64 }', 'menuMemory: { entries: -1 }'), /entries/);
    expectInvalid(base.replace('input: [numeric-keypad, function-keys, magstripe-reader]', 'input: []'), /input/);
    expectInvalid(base.replace('input: [numeric-keypad, function-keys, magstripe-reader]', 'input: [voice]'), /input/);
    // Cross-field rules.
    expectInvalid(base.replace('printer: { columns: 24 }', 'printer: none'), /printer/);
    expectInvalid(
      base.replace('input: [numeric-keypad, function-keys, magstripe-reader]', 'input: [numeric-keypad]'),
      /magstripe/,
    );
    expectInvalid(
      text('bell202-crc16.yaml').replace('menuMemory: { bytes: 16384, entries: 128 }', 'menuMemory: { bytes: 0 }'),
      /menu/,
    );
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
    expectInvalid(text('v23-compact-crc16.yaml').replace('leadInMarkBits: 8', 'leadInMarkBits: 7'), /leadInMarkBits/);
  });
});
