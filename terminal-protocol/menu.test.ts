import { decodeMenu, encodeMenu } from './conversation';
import { buildMenu, menuBlocks } from './menu';
import type { MenuService } from './menu';
import { MENU_BLOCKS_MAX, SERVICE_DATA_BYTES_MAX } from './spec';

const service = (id: string, path: string[], profiles: string[] | null = null): MenuService => ({
  serviceId: id,
  menu: path,
  title: path.at(-1) ?? id,
  inputs: [{ name: 'customer', kind: 'digits', label: 'Customer number', min: 6, max: 12 }],
  profiles,
});

const many = Array.from({ length: 40 }, (_, i) =>
  service(`svc-${String(i).padStart(2, '0')}`, ['Bills', `Biller ${String(i).padStart(2, '0')}`]),
);

describe('a terminal menu (ADR 0018)', () => {
  it('orders by menu path, keeps only what the profile may run, and cuts texts to the display', () => {
    const menu = buildMenu(
      [
        service('water', ['Bills', 'Water']),
        service('topup', ['Top-up', 'Mobile'], ['bell202-crc16']),
        service('electricity', ['Bills', 'Electricity and gas supply']),
      ],
      { profileId: 'es201912-v23', displayColumns: 16, menuMemory: { entries: 64 } },
    );
    expect(menu.entries.map((e) => e.code)).toEqual(['electricity', 'water']);
    for (const e of menu.entries) for (const t of [...e.path, e.title]) expect(t.length).toBeLessThanOrEqual(16);
    expect(menu.version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('a profile with little menu memory gets a menu it can hold: entries and bytes never exceed it', () => {
    const bare = many.map((m) => ({ ...m, inputs: [] }));
    const small = buildMenu(bare, { profileId: 'v23-compact-crc16', displayColumns: 16, menuMemory: { entries: 16 } });
    expect(small.entries).toHaveLength(16);
    // With inputs, one field 59 (999 bytes) holds fewer: the leading entries that fit.
    const withInputs = buildMenu(many, {
      profileId: 'v23-compact-crc16',
      displayColumns: 16,
      menuMemory: { entries: 16 },
    });
    expect(withInputs.entries.length).toBeLessThan(16);
    expect(withInputs.entries.map((e) => e.code)).toEqual(
      many.slice(0, withInputs.entries.length).map((m) => m.serviceId),
    );
    const tiny = buildMenu(many, { profileId: 'x', displayColumns: 20, menuMemory: { bytes: 300 } });
    const bytes = encodeMenu(tiny, undefined).length;
    expect(tiny.entries.length).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(300);
    // A large memory: the menu is not cut to one field 59 but sent in blocks, each within one, at
    // most MENU_BLOCKS_MAX of them; read back in order they are the whole menu.
    const big = buildMenu(many, { profileId: 'x', displayColumns: 20, menuMemory: { bytes: 65536, entries: 512 } });
    const blocks = menuBlocks(big.entries);
    expect(blocks.length).toBeGreaterThan(1);
    expect(blocks.length).toBeLessThanOrEqual(MENU_BLOCKS_MAX);
    const read = blocks.map((_, i) => decodeMenu(encodeMenu(big, undefined, i + 1, blocks)));
    for (const [i, m] of read.entries()) {
      expect(encodeMenu(big, undefined, i + 1, blocks).length).toBeLessThanOrEqual(SERVICE_DATA_BYTES_MAX);
      expect(m).toMatchObject({ version: big.version, block: i + 1, blocks: blocks.length });
    }
    expect(read.flatMap((m) => m.entries)).toEqual(big.entries);
    // The same entries without a byte figure (an older profile): one field 59, the leading ones.
    const one = buildMenu(many, { profileId: 'x', displayColumns: 20, menuMemory: { entries: 512 } });
    expect(menuBlocks(one.entries)).toHaveLength(1);
    expect(one.entries).toEqual(big.entries.slice(0, one.entries.length));
    // A block the menu does not have carries no entries and does not read as a block.
    expect(() => decodeMenu(encodeMenu(big, undefined, blocks.length + 1, blocks))).toThrow(/menu block/);
  });

  it('the version changes when a service is added and not otherwise; hostile ids and texts do not pass', () => {
    const device = { profileId: 'es201912-v23', displayColumns: 16, menuMemory: { entries: 64 } };
    const a = buildMenu([service('water', ['Bills', 'Water'])], device);
    expect(buildMenu([service('water', ['Bills', 'Water'])], device).version).toBe(a.version);
    expect(
      buildMenu([service('water', ['Bills', 'Water']), service('gas', ['Bills', 'Gas'])], device).version,
    ).not.toBe(a.version);
    const hostile = buildMenu([service('Bad Id', ['x']), service('ok', ['Bills\u202e', 'card 6225880000000001'])], {
      ...device,
      displayColumns: 40,
    });
    expect(hostile.entries.map((e) => e.code)).toEqual(['ok']);
    expect(hostile.entries[0]?.path.join('/')).not.toMatch(/\u202e|6225880000000001/);
  });
});
