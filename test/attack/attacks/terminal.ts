/**
 * Attacks on the terminal protocol, through the terminal simulator over real FSK audio (TCP PCM):
 * STAN squatting, repeat-answer disclosure, binding and MAC bypass, PSAM counter replay, a captured
 * request replayed. Oracle: the bank (its own record) and the terminal's answers.
 *
 * An attacker without the PSAM's key is simulated with a PSAM built on another master key: its
 * MACs are as good as random to the platform. A platform answer MACed under the real terminal's
 * key shows up as TERMINAL_SIM_RESPONSE_MAC_INVALID at the attacker: it was an answer meant for
 * someone else (a refusal carries no MAC, or none the attacker could check).
 */
import { MemoryStateStore } from '../../../simulator/terminal/config';
import type { TransactionResult } from '../../../simulator/terminal/terminal';
import type { Targets } from '../targets';
import { CARD_POOR, CARD_RICH, WRONG_PSAM_MASTER_KEY } from '../targets';
import { defect, inconclusive, refused } from '../types';
import type { Attack, Verdict } from '../types';

const ATTACKER_ANI = '13900000099';

function describe(t: TransactionResult | undefined): string {
  if (t === undefined) return 'no result';
  return `${t.outcome} ${t.responseCode ?? ''} ${t.failure?.codeName ?? ''}`.trim();
}

/** Did the attacker get an answer carrying data meant for the real terminal? */
function disclosed(t: TransactionResult | undefined): string | undefined {
  if (t === undefined) return undefined;
  if (t.failure?.codeName === 'TERMINAL_SIM_RESPONSE_MAC_INVALID' && t.failure.message.includes('without field 64'))
    return undefined;
  if (t.failure?.codeName === 'TERMINAL_SIM_RESPONSE_MAC_INVALID')
    return 'an answer MACed under the real terminal key (the cached answer)';
  if (t.balanceMinor !== undefined) return 'the balance';
  if (t.authorizationCode !== undefined || t.rrn !== undefined) return 'the auth code / RRN';
  if (t.outcome === 'approved') return 'an approval';
  return undefined;
}

/** The real terminal signs on; returns its state (STAN, PSAM counter, working keys). */
async function signedOn(ctx: Targets): Promise<MemoryStateStore | undefined> {
  const state = ctx.freshState();
  const [signOn] = await ctx.script(ctx.terminal(), [{ step: 'sign-on' }, { step: 'hang-up' }], state);
  return signOn?.outcome === 'approved' ? state : undefined;
}

/** The attacker's copy of a terminal state: same STAN and working keys, its PSAM counter far ahead. */
function attackerState(real: MemoryStateStore): MemoryStateStore {
  const s = real.load();
  return new MemoryStateStore({ ...s, psamCounter: s.psamCounter + 1_000 });
}

export const terminalAttacks: Attack[] = [
  {
    id: 'terminal.stan-squat',
    target: 'terminal',
    severity: 'high',
    reported: 3,
    title:
      "a purchase for a real terminal with its next STAN and a random MAC: the terminal's own purchase must still pass",
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const [squat] = await ctx.script(
        ctx.terminal({ psamMasterKey: WRONG_PSAM_MASTER_KEY, callerNumber: ATTACKER_ANI }),
        [{ step: 'purchase', amountMinor: 100 }, { step: 'hang-up' }],
        attackerState(real),
      );
      const [own] = await ctx.script(
        ctx.terminal(),
        [{ step: 'purchase', amountMinor: 100 }, { step: 'hang-up' }],
        real,
      );
      if (own?.stan !== squat?.stan) return inconclusive(`STANs differ: ${own?.stan} vs ${squat?.stan}`);
      if (own?.outcome !== 'approved')
        return defect(
          `after the squat (${describe(squat)}), the terminal's purchase with STAN ${own?.stan} got ${describe(own)}`,
        );
      return refused(`squat ${describe(squat)}; the real purchase approved`);
    },
  },
  {
    id: 'terminal.repeat-disclosure-balance',
    target: 'terminal',
    severity: 'medium',
    reported: 6,
    title: "a random MAC from a wrong caller naming a real terminal's last balance STAN must not receive the balance",
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const before = real.load();
      const [own] = await ctx.script(ctx.terminal(), [{ step: 'balance' }, { step: 'hang-up' }], real);
      if (own?.outcome !== 'approved') return inconclusive(`the real balance inquiry got ${describe(own)}`);
      const [stolen] = await ctx.script(
        ctx.terminal({ psamMasterKey: WRONG_PSAM_MASTER_KEY, callerNumber: ATTACKER_ANI }),
        [{ step: 'balance' }, { step: 'hang-up' }],
        attackerState(new MemoryStateStore(before)),
      );
      const what = disclosed(stolen);
      if (stolen?.stan !== own.stan) return inconclusive(`STANs differ: ${own.stan} vs ${stolen?.stan}`);
      if (what !== undefined) return defect(`the attacker received ${what} (STAN ${own.stan})`);
      return refused(`attacker got ${describe(stolen)}`);
    },
  },
  {
    id: 'terminal.repeat-disclosure-purchase',
    target: 'terminal',
    severity: 'medium',
    reported: 6,
    title: "a random MAC from a wrong caller naming a real purchase's STAN must not receive its amount, auth code, RRN",
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const before = real.load();
      const [own] = await ctx.script(
        ctx.terminal(),
        [{ step: 'purchase', amountMinor: 100 }, { step: 'hang-up' }],
        real,
      );
      if (own?.outcome !== 'approved') return inconclusive(`the real purchase got ${describe(own)}`);
      const [stolen] = await ctx.script(
        ctx.terminal({ psamMasterKey: WRONG_PSAM_MASTER_KEY, callerNumber: ATTACKER_ANI }),
        [{ step: 'purchase', amountMinor: 100 }, { step: 'hang-up' }],
        attackerState(new MemoryStateStore(before)),
      );
      const what = disclosed(stolen);
      if (what !== undefined) return defect(`the attacker received ${what} (STAN ${own.stan})`);
      return refused(`attacker got ${describe(stolen)}`);
    },
  },
  {
    id: 'terminal.wrong-mac-purchase',
    target: 'terminal',
    severity: 'high',
    title: 'a purchase with a random MAC from the bound caller number must be declined and not charge the card',
    quick: true,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const before = ctx.bank.account(CARD_RICH.pan)?.balanceMinor;
      const [forged] = await ctx.script(
        ctx.terminal({ psamMasterKey: WRONG_PSAM_MASTER_KEY }),
        [{ step: 'purchase', amountMinor: 777 }, { step: 'hang-up' }],
        attackerState(real),
      );
      const after = ctx.bank.account(CARD_RICH.pan)?.balanceMinor;
      if (forged?.outcome === 'approved' || before !== after)
        return defect(`forged purchase ${describe(forged)}; card balance ${before} → ${after}`);
      return refused(`forged purchase ${describe(forged)}; card not charged`);
    },
  },
  {
    id: 'terminal.wrong-ani-purchase',
    target: 'terminal',
    severity: 'high',
    title: 'a correctly MACed purchase from a caller number not bound to the terminal must be declined',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const before = ctx.bank.account(CARD_RICH.pan)?.balanceMinor;
      const [moved] = await ctx.script(
        ctx.terminal({ callerNumber: ATTACKER_ANI }),
        [{ step: 'purchase', amountMinor: 778 }, { step: 'hang-up' }],
        real,
      );
      const after = ctx.bank.account(CARD_RICH.pan)?.balanceMinor;
      if (moved?.outcome === 'approved' || before !== after)
        return defect(`purchase from an unbound line ${describe(moved)}; card balance ${before} → ${after}`);
      return refused(`unbound line ${describe(moved)}`);
    },
  },
  {
    id: 'terminal.psam-counter-replay',
    target: 'terminal',
    severity: 'high',
    title: 'a purchase reusing a PSAM counter already accepted must be refused',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const [first] = await ctx.script(
        ctx.terminal(),
        [{ step: 'purchase', amountMinor: 100 }, { step: 'hang-up' }],
        real,
      );
      if (first?.outcome !== 'approved') return inconclusive(`the first purchase got ${describe(first)}`);
      const s = real.load();
      // Same counter as the purchase just approved (the simulator adds one before use), new STAN.
      const replay = new MemoryStateStore({ ...s, stan: s.stan + 5, psamCounter: s.psamCounter - 1 });
      const before = ctx.bank.account(CARD_RICH.pan)?.balanceMinor;
      const [again] = await ctx.script(
        ctx.terminal(),
        [{ step: 'purchase', amountMinor: 101 }, { step: 'hang-up' }],
        replay,
      );
      const after = ctx.bank.account(CARD_RICH.pan)?.balanceMinor;
      if (again?.outcome === 'approved' || before !== after)
        return defect(`a replayed PSAM counter was accepted: ${describe(again)}; balance ${before} → ${after}`);
      return refused(`replayed counter ${describe(again)}`);
    },
  },
  {
    id: 'terminal.other-terminal-line',
    target: 'terminal',
    severity: 'high',
    title: "terminal 1's keys dialling from terminal 2's bound line must be declined (ANI ↔ terminal binding)",
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const ani = ctx.terminal({ demoTerminal: 1 }).line.callerNumber;
      const [moved] = await ctx.script(
        ctx.terminal({ callerNumber: ani }),
        [{ step: 'purchase', amountMinor: 779 }, { step: 'hang-up' }],
        real,
      );
      if (moved?.outcome === 'approved') return defect(`purchase from another terminal's line ${describe(moved)}`);
      return refused(describe(moved));
    },
  },
  {
    id: 'terminal.replay-captured-request',
    target: 'terminal',
    severity: 'high',
    title: 'the same purchase request bytes sent again on a new call must not charge the card twice',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const before = ctx.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
      const r = await ctx.script(
        ctx.terminal(),
        [{ step: 'purchase', amountMinor: 321 }, { step: 'hang-up' }, { step: 'repeat' }, { step: 'hang-up' }],
        real,
      );
      const after = ctx.bank.account(CARD_RICH.pan)?.balanceMinor ?? 0;
      if (r[0]?.outcome !== 'approved') return inconclusive(`the purchase got ${describe(r[0])}`);
      if (before - after !== 321)
        return defect(`the card was charged ${before - after} for one purchase of 321 replayed once`);
      return refused(`charged once; the replay got ${describe(r[1])}`);
    },
  },
  {
    id: 'terminal.insufficient-funds-stays-declined',
    target: 'terminal',
    severity: 'high',
    title: 'a purchase above the balance of a poor card must be declined (51) and post nothing',
    quick: false,
    timeoutMs: 120_000,
    async run(ctx): Promise<Verdict> {
      const real = await signedOn(ctx);
      if (real === undefined) return inconclusive('the real terminal could not sign on');
      const before = ctx.bank.account(CARD_POOR.pan)?.balanceMinor ?? 0;
      const [t] = await ctx.script(
        ctx.terminal({ card: CARD_POOR }),
        [{ step: 'purchase', amountMinor: before + 100 }, { step: 'hang-up' }],
        real,
      );
      if (t?.outcome === 'approved') return defect(`approved ${before + 100} on a card holding ${before}`);
      return refused(describe(t));
    },
  },
];
