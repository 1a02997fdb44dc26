import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFixpayError } from '../domain/errors';
import { KEY_DIRECTORY_BYTES_MAX, readKeyDirectory, writeKeyDirectory } from './key-directory';

const HANDLE = 'D0072P0TE00E0000ABCDEF0123456789';

describe('key directory file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fixpay-keydir-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('round-trips and is written owner-only', () => {
    const read = readKeyDirectory(
      file('in.json', JSON.stringify({ zpk: HANDLE, zak: HANDLE, psamMasterKeys: { a1b2c3d4e5f60001: HANDLE } })),
    );
    expect(read).toEqual({ zpk: HANDLE, zak: HANDLE, psamMasterKeys: { A1B2C3D4E5F60001: HANDLE } });
    const f = join(dir, 'out.json');
    writeKeyDirectory(f, read);
    expect(readKeyDirectory(f)).toEqual(read);
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });

  it('reads the optional personalisation keys', () => {
    const personalisation = { psamMasterKey: HANDLE, transportKey: `${HANDLE}01` };
    const read = readKeyDirectory(
      file(
        'perso.json',
        JSON.stringify({ zpk: HANDLE, zak: HANDLE, psamMasterKeys: { A1B2C3D4E5F60001: HANDLE }, personalisation }),
      ),
    );
    expect(read.personalisation).toEqual(personalisation);
  });

  it('reads the card programme keys, the bureau key among them, and refuses them without it', () => {
    const cards = { cvk: HANDLE, printerKey: `${HANDLE}01`, bureauKey: `${HANDLE}02` };
    const base = { zpk: HANDLE, zak: HANDLE, psamMasterKeys: { A1B2C3D4E5F60001: HANDLE } };
    expect(readKeyDirectory(file('cards.json', JSON.stringify({ ...base, cards }))).cards).toEqual(cards);
    const { bureauKey: _b, ...withoutBureau } = cards;
    expect(() => readKeyDirectory(file('cards-old.json', JSON.stringify({ ...base, cards: withoutBureau })))).toThrow(
      /bureauKey/,
    );
  });

  it.each([
    ['absent', join(dir, 'none.json')],
    ['not JSON', 'not-json'],
    ['JSON null', 'null'],
    ['no zak', JSON.stringify({ zpk: HANDLE, psamMasterKeys: {} })],
    ['a handle with control bytes', JSON.stringify({ zpk: `${HANDLE}\n`, zak: HANDLE, psamMasterKeys: {} })],
    ['a bad PSAM serial', JSON.stringify({ zpk: HANDLE, zak: HANDLE, psamMasterKeys: { '../x': HANDLE } })],
    ['a prototype key', `{"zpk":"${HANDLE}","zak":"${HANDLE}","psamMasterKeys":{"__proto__":"${HANDLE}"}}`],
    ['too large', ' '.repeat(KEY_DIRECTORY_BYTES_MAX + 1)],
    [
      'a personalisation key that is no PSAM master key',
      JSON.stringify({
        zpk: HANDLE,
        zak: HANDLE,
        psamMasterKeys: { A1B2C3D4E5F60001: HANDLE },
        personalisation: { psamMasterKey: `${HANDLE}99`, transportKey: HANDLE },
      }),
    ],
    [
      'personalisation without a transport key',
      JSON.stringify({
        zpk: HANDLE,
        zak: HANDLE,
        psamMasterKeys: { A1B2C3D4E5F60001: HANDLE },
        personalisation: { psamMasterKey: HANDLE },
      }),
    ],
  ])('refuses a file that is %s with CONFIG_INVALID, never a crash', (name, content) => {
    const f = name === 'absent' ? content : file(`${name.replace(/\W/g, '-')}.json`, content);
    let thrown: unknown;
    try {
      readKeyDirectory(f);
    } catch (e) {
      thrown = e;
    }
    expect(isFixpayError(thrown) && thrown.codeName).toBe('CONFIG_INVALID');
  });
});
