/**
 * Attacks on the card network link, through the tampering proxy between the platform's gateway and
 * the bank simulator: rewritten answers and requests, dropped answers, injected and malformed frames.
 * Oracle: what the terminal was told against what the bank (its own record) did, and whether every
 * purchase the bank approved but the platform did not complete was reversed.
 */
import type { IsoMessage } from '../../../gateways/iso8583';
import type { Targets } from '../targets';
import { CARD_POOR, CARD_RICH } from '../targets';
import { sleep } from '../support';
import { defect, inconclusive, refused } from '../types';
import type { Attack, Verdict } from '../types';

const isPurchaseAnswer = (m: IsoMessage): boolean => m.mti === '0210' && m.fields.get(3) === '000000';
const isPurchaseRequest = (m: IsoMessage): boolean => m.mti === '0200' && m.fields.get(3) === '000000';

/** Runs `fn` with a tamper hook installed, always removing it afterwards. */
async function tampered<T>(ctx: Targets, tamper: Targets['proxy']['tamper'], fn: () => Promise<T>): Promise<T> {
  ctx.proxy.tamper = tamper;
  try {
    return await fn();
  } finally {
    ctx.proxy.tamper = {};
  }
}

async function afterwardsStillWorks(ctx: Targets, what: string): Promise<Verdict> {
  const t = await ctx.legitPurchase();
  if (!ctx.platformAlive()) return defect(`the platform process died (${what})`);
  if (t?.outcome !== 'approved')
    return defect(
      `${what}; then a legitimate purchase got ${t?.outcome ?? 'nothing'} ${t?.failure?.codeName ?? t?.responseCode ?? ''}`,
    );
  return refused(`${what}; a legitimate purchase is approved afterwards`);
}

export const bankLinkAttacks: Attack[] = [
  {
    id: 'bank.rewrite-response-code',
    target: 'bank-link',
    severity: 'high',
    reported: 4,
    title: 'the proxy rewrites a 0210 field 39 from 51 to 00: the platform must not approve what the bank declined',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const balance = ctx.bank.account(CARD_POOR.pan)?.balanceMinor ?? 0;
      let rewritten = 0;
      const [, t] = await tampered(
        ctx,
        {
          response(m, raw) {
            if (!isPurchaseAnswer(m) || m.fields.get(39) !== '51') return raw;
            m.fields.set(39, '00');
            m.fields.set(38, '123456');
            rewritten++;
            return ctx.proxy.pack(m);
          },
        },
        () =>
          ctx.script(ctx.terminal({ card: CARD_POOR }), [
            { step: 'sign-on' },
            { step: 'purchase', amountMinor: balance + 90_000 },
            { step: 'hang-up' },
          ]),
      );
      if (rewritten === 0) return inconclusive(`no declined 0210 passed the proxy (terminal: ${t?.outcome ?? '-'})`);
      if (t?.outcome === 'approved')
        return defect(
          `approved ${balance + 90_000} the bank declined (51 rewritten to 00 on the wire); the bank never charged it`,
        );
      return refused(`terminal got ${t?.outcome ?? '-'} ${t?.responseCode ?? t?.failure?.codeName ?? ''}`);
    },
  },
  {
    id: 'bank.requests-carry-mac',
    target: 'bank-link',
    severity: 'high',
    reported: 4,
    title: 'financial requests to the network carry a MAC (field 64 or 128)',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const seen = ctx.proxy.requests.length;
      await ctx.legitPurchase();
      const requests = ctx.proxy.requests.slice(seen).filter(isPurchaseRequest);
      if (requests.length === 0) return inconclusive('no 0200 passed the proxy');
      const unmaced = requests.filter((m) => !m.fields.has(64) && !m.fields.has(128));
      if (unmaced.length > 0)
        return defect(`${unmaced.length} of ${requests.length} 0200 requests had no field 64/128`);
      return refused(`${requests.length} 0200 requests, all MACed`);
    },
  },
  {
    id: 'bank.rewrite-request-amount',
    target: 'bank-link',
    severity: 'high',
    reported: 4,
    title: 'the proxy lowers a 0200 amount to 1: the bank (or the platform) must notice; money must match',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const before = ctx.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
      let rewritten = 0;
      const t = await tampered(
        ctx,
        {
          request(m, raw) {
            if (!isPurchaseRequest(m)) return raw;
            m.fields.set(4, '000000000001');
            rewritten++;
            return ctx.proxy.pack(m);
          },
        },
        () => ctx.legitPurchase({ amountMinor: 5_000 }),
      );
      const charged = before - (ctx.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0);
      if (rewritten === 0) return inconclusive('no 0200 passed the proxy');
      if (t?.outcome === 'approved' && charged !== 5_000)
        return defect(`terminal approved 5000 while the bank charged ${charged}`);
      return refused(`terminal ${t?.outcome ?? '-'}, bank charged ${charged}`);
    },
  },
  {
    id: 'bank.drop-response',
    target: 'bank-link',
    severity: 'high',
    title: 'the proxy drops an approved 0210: the terminal must not be approved and the bank must get a reversal',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      let dropped: string | undefined;
      const t = await tampered(
        ctx,
        {
          response(m, raw) {
            if (dropped === undefined && isPurchaseAnswer(m) && m.fields.get(39) === '00') {
              const stan = m.fields.get(11);
              dropped = typeof stan === 'string' ? stan : '?';
              return undefined;
            }
            return raw;
          },
        },
        () => ctx.legitPurchase({ amountMinor: 4_321 }),
      );
      if (dropped === undefined) return inconclusive('no approved 0210 passed the proxy');
      if (t?.outcome === 'approved') return defect('the terminal was approved without the bank answer');
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const reversals = ctx.proxy.requests.filter((m) => m.mti.startsWith('04') && m.fields.get(11) === dropped);
        const acked = ctx.proxy.responses.filter((m) => m.mti.startsWith('04') && m.fields.get(11) === dropped);
        if (reversals.length > 0 && acked.length > 0)
          return refused(`terminal ${t?.outcome ?? '-'}; reversal sent and acknowledged`);
        await sleep(500);
      }
      return defect(`the bank approved STAN ${dropped} and no acknowledged reversal followed within 30 s`);
    },
  },
  {
    id: 'bank.inject-unsolicited-answer',
    target: 'bank-link',
    severity: 'medium',
    title: 'an unsolicited approved 0210 for an unknown STAN injected on the link: ignored, link healthy',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const fake: IsoMessage = {
        mti: '0210',
        fields: new Map<number, string>([
          [3, '000000'],
          [4, '000000090000'],
          [11, '999991'],
          [37, '000000999991'],
          [38, '777777'],
          [39, '00'],
          [41, 'T0000001'],
        ]),
      };
      let frame: Buffer;
      try {
        frame = ctx.proxy.pack(fake);
      } catch (e) {
        return inconclusive(`cannot pack the forged answer: ${String(e)}`);
      }
      ctx.proxy.inject(frame);
      await sleep(500);
      return afterwardsStillWorks(ctx, 'forged 0210 injected');
    },
  },
  {
    id: 'bank.inject-garbage-frame',
    target: 'bank-link',
    severity: 'medium',
    title: 'a bad length header and a frame of junk injected on the link: the gateway reconnects, purchases work',
    quick: false,
    timeoutMs: 150_000,
    async run(ctx): Promise<Verdict> {
      ctx.proxy.inject('0010\u0000\u0001\u0002junk!!');
      await sleep(200);
      ctx.proxy.inject('ZZZZnot a frame');
      await sleep(3_000);
      return afterwardsStillWorks(ctx, 'junk injected');
    },
  },
  {
    id: 'bank.oversize-frame',
    target: 'bank-link',
    severity: 'medium',
    title: 'a 9 999-byte frame of junk from the bank side: no crash, purchases work after reconnect',
    quick: false,
    timeoutMs: 150_000,
    async run(ctx): Promise<Verdict> {
      ctx.proxy.inject(`9999${'\u00ff'.repeat(9_999)}`);
      await sleep(3_000);
      return afterwardsStillWorks(ctx, 'oversize frame injected');
    },
  },
];
