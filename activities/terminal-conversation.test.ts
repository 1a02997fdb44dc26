import { randomBytes } from 'node:crypto';
import { openVoucher, sealVoucher } from '../gateways/providers/voucher';
import { decodeReceipt } from '../terminal-protocol/conversation';
import type { ConversationActivityDeps } from './terminal-conversation';
import { createConversationActivities } from './terminal-conversation';

const key = { id: 'k1', key: randomBytes(32) };
const printer32 = {
  profileId: 'bell202-crc16',
  display: { lines: 4, columns: 20 },
  printer: { columns: 32 },
  menuMemory: { entries: 16 },
} as const;

function activities(withKey = true) {
  const deps: ConversationActivityDeps = {
    hsm: { generatePsamMac: () => Promise.reject(new Error('not used')) },
    psamMasterKey: () => Promise.resolve(undefined),
    device: (id) => Promise.resolve(id === 'T1' ? printer32 : undefined),
    menuServices: () => Promise.resolve([]),
  };
  return createConversationActivities(
    withKey ? { ...deps, openVoucher: (sealed) => openVoucher(sealed, [key]) } : deps,
  );
}
const lines = (hex: string): string[] => decodeReceipt(Buffer.from(hex, 'hex'));

describe('formatReceipt with a sealed top-up PIN', () => {
  it('opens the PIN and prints it after the lines, unmasked, wrapped to the printer', async () => {
    const pin = '123456789012';
    const r = await activities().formatReceipt({
      terminalId: 'T1',
      lines: ['PIN TOP-UP'],
      voucher: sealVoucher(pin, key),
    });
    expect(lines(r.field59)).toEqual(['PIN TOP-UP', `PIN ${pin}`]);
    const long = '1234567890123456789012345678901234567890';
    const w = await activities().formatReceipt({ terminalId: 'T1', lines: [], voucher: sealVoucher(long, key) });
    const printed = lines(w.field59);
    for (const l of printed) expect(l.length).toBeLessThanOrEqual(32);
    expect(printed.map((l) => l.slice(4)).join('')).toBe(long);
  });

  it('prints no PIN line for an empty voucher, and a card number in the lines is still masked', async () => {
    const r = await activities().formatReceipt({ terminalId: 'T1', lines: ['CARD 6225880000000001'], voucher: '' });
    expect(lines(r.field59)).toEqual(['CARD 622588******0001']);
  });

  it('refuses a voucher it cannot open, one under another key, a non-PIN and a worker without the key', async () => {
    const other = { id: 'k1', key: randomBytes(32) };
    const refusals = [
      activities().formatReceipt({ terminalId: 'T1', lines: [], voucher: 'v1.k1.x.y.z' }),
      activities().formatReceipt({ terminalId: 'T1', lines: [], voucher: sealVoucher('1234', other) }),
      activities().formatReceipt({ terminalId: 'T1', lines: [], voucher: sealVoucher('12\n34\u202e', key) }),
      activities(false).formatReceipt({
        terminalId: 'T1',
        lines: [],
        voucher: sealVoucher('1234', key),
      }),
    ];
    for (const p of refusals) {
      const e = (await p.then(
        () => undefined,
        (x: unknown) => x,
      )) as Error | undefined;
      expect(e).toBeDefined();
      expect(String(e?.message)).not.toContain('1234');
    }
  });
});
