import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFixpayError } from '../../domain/errors';
import { CAMPAIGN_FILE_BYTES_MAX, parseCampaign } from './campaign';

const DIR = join(__dirname, '..', '..', 'campaigns');
const BASE = `kind: campaign
id: t1
description: test
audience: { regions: [north] }
text: 'Hello'
schedule: { everyMinutes: 60 }
`;

const codeOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    return isFixpayError(e) ? e.codeName : `other: ${String(e)}`;
  }
  return 'none';
};

describe('campaign files', () => {
  it.each(readdirSync(DIR).filter((f) => f.endsWith('.yaml')))('campaigns/%s is valid', (file) => {
    const c = parseCampaign(readFileSync(join(DIR, file), 'utf8'), file);
    expect(c.schedule.catchupWindowMinutes).toBeLessThanOrEqual(1440);
  });

  it('fills the defaults: overlap skip, a catch-up window of 10 minutes, 4 attempts', () => {
    const c = parseCampaign(BASE);
    expect(c.schedule).toEqual({ everyMinutes: 60, overlap: 'skip', catchupWindowMinutes: 10, paused: false });
    expect(c.retry).toEqual({
      maxAttempts: 4,
      initialIntervalMs: 60_000,
      backoffCoefficient: 2,
      maximumIntervalMs: 1_800_000,
    });
    expect(c.lineBudget).toBe(8);
  });

  it.each([
    ['an unknown key', `${BASE}colour: red\n`],
    ['a catch-up window of a year', BASE.replace('everyMinutes: 60', 'everyMinutes: 60, catchupWindowMinutes: 525600')],
    ['no schedule spec', BASE.replace('{ everyMinutes: 60 }', '{ overlap: skip }')],
    ['both cron and interval', BASE.replace('{ everyMinutes: 60 }', "{ everyMinutes: 60, cron: ['0 1 * * *'] }")],
    ['an interval under 5 minutes', BASE.replace('everyMinutes: 60', 'everyMinutes: 1')],
    ['an unknown overlap policy', BASE.replace('everyMinutes: 60', 'everyMinutes: 60, overlap: sometimes')],
    ['a bad id', BASE.replace('id: t1', 'id: ../etc')],
    ['a prototype key', `${BASE}__proto__: { polluted: true }\n`],
    ['bad quiet hours', `${BASE}quietHours: { start: '25:00', end: '07:00', utcOffsetMinutes: 0 }\n`],
    ['a line budget of 0', `${BASE}lineBudget: 0\n`],
    ['retry maximum below its initial', `${BASE}retry: { initialSeconds: 60, maximumSeconds: 10 }\n`],
    ['a wrong kind', BASE.replace('kind: campaign', 'kind: service')],
    ['a list instead of a map', '- a\n- b\n'],
    ['YAML that does not parse', 'kind: [campaign\n'],
    ['an alias', `${BASE}x: &a [1]\ny: *a\n`],
    ['a duplicate key', `${BASE}text: 'again'\n`],
  ])('refuses %s with PUSH_CAMPAIGN_INVALID', (_what, text) => {
    expect(codeOf(() => parseCampaign(text))).toBe('PUSH_CAMPAIGN_INVALID');
  });

  it('refuses a file over the size limit before parsing it', () => {
    expect(codeOf(() => parseCampaign(`${BASE}#${'x'.repeat(CAMPAIGN_FILE_BYTES_MAX)}\n`))).toBe(
      'PUSH_CAMPAIGN_INVALID',
    );
  });

  it.each([
    ['a bidi override', "'Pay \u202Ewon'"],
    ['a control byte', '"Pay\\x07"'],
    ['a card number', "'Card 4111111111111111'"],
  ])('refuses text with %s with PUSH_TEXT_UNSAFE', (_what, text) => {
    expect(codeOf(() => parseCampaign(BASE.replace("'Hello'", text)))).toBe('PUSH_TEXT_UNSAFE');
  });
});
