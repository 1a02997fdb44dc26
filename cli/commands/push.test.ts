import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatReport, validateCampaigns } from './push';

const GOOD = `kind: campaign
id: c1
description: d
audience: { regions: [north] }
text: 'Hello'
schedule: { everyMinutes: 60 }
`;

describe('fixpay push', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fixpay-campaigns-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = (): { specs: unknown; out: string[]; err: string[] } => {
    const out: string[] = [];
    const err: string[] = [];
    const specs = validateCampaigns(
      [dir],
      (l) => out.push(l),
      (l) => err.push(l),
    );
    return { specs, out, err };
  };

  it('validates the shipped campaigns folder', () => {
    const out: string[] = [];
    expect(
      validateCampaigns(
        ['campaigns'],
        (l) => out.push(l),
        () => undefined,
      ),
    ).toBeDefined();
    expect(out.some((l) => l.endsWith(' bill-reminder'))).toBe(true);
  });

  it('prints the code and reason of each refused file, and refuses duplicate ids', () => {
    writeFileSync(join(dir, 'a.yaml'), GOOD);
    writeFileSync(join(dir, 'b.yaml'), GOOD);
    writeFileSync(join(dir, 'c.yaml'), GOOD.replace("'Hello'", "'Pay \u202Ewon'"));
    const r = run();
    expect(r.specs).toBeUndefined();
    expect(r.out).toHaveLength(1);
    expect(r.err.some((l) => l.includes('campaign id c1 is also used by'))).toBe(true);
    expect(r.err.some((l) => l.startsWith('FP3701 '))).toBe(true);
  });

  it('formats a report', () => {
    expect(
      formatReport({
        campaignId: 'c1',
        delivered: 50,
        failed: 1,
        pending: 0,
        deliveredAtNextCall: 5,
        deliveredInCall: 2,
      }),
    ).toBe('campaign c1: delivered 50 (5 at the next call, 2 in a call), failed 1, pending 0');
  });
});
