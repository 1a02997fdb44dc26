/**
 * Property: the compiler is the gate. Random definitions are built from the step palette (money
 * steps with and without compensations, pivots in and out of place, checks, answers, events,
 * loops, waits, listens); every one the compiler accepts is run in the fake runtime under random
 * combinations of faults (failures, timeouts, successes that time out, on any call or
 * compensation) and must leave the ledger balanced: no reservation open, nothing live after a
 * failed run, and no posted reservation behind a run that reports failure. The compiler itself
 * must answer every random definition with a plan or diagnostics, never an exception.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';
import { defaultCatalogue } from '../catalogue/entries';
import { FakeWorld } from '../catalogue/fake';
import { compileDefinition } from '../compiler/compile';
import { planHash } from '../plan/hash';
import type { PlanStep } from '../runtime/plan';
import { runFake } from './fake-runtime';
import type { Fault } from './fake-runtime';

const catalogue = defaultCatalogue();

const INPUT = {
  terminalId: 'T0000001',
  stan: '000123',
  localDate: '1126',
  ani: '0215550100',
  pan: '6225880000000002',
  pinBlock: '0412AC89ABCDEF67',
  amount: 12500,
  currency: '156',
  items: ['d1', 'd2'],
};

type Step = Record<string, unknown>;
const acct = '${steps.binding.accountId}';

/** One palette entry: the step(s) it adds, given a unique suffix. */
type Piece = (n: number, opts: { comp: boolean; pivot: boolean; optional: boolean; bounded: boolean }) => Step[];

const retryOf = (o: { bounded: boolean; pivot: boolean }): Record<string, unknown> =>
  o.pivot || !o.bounded ? { until: 'success' } : { maxAttempts: 2 };

const palette: Piece[] = [
  (n, o) => [
    {
      id: `reserve${n}`,
      call: 'reserveFunds',
      with: { accountId: acct, amount: '${input.amount}', currency: '${input.currency}' },
      timeout: '5s',
      retry: retryOf(o),
      ...(o.pivot ? { pivot: true } : {}),
      ...(o.optional ? { optional: true } : {}),
      ...(o.comp ? { compensate: { call: 'voidReservation', with: { accountId: acct } } } : {}),
    },
  ],
  (n, o) => [
    {
      id: `auth${n}`,
      call: 'authorize',
      with: {
        pan: '${input.pan}',
        pinBlock: '${input.pinBlock}',
        amount: '${input.amount}',
        currency: '${input.currency}',
        terminalId: '${input.terminalId}',
        stan: '${input.stan}',
      },
      timeout: '20s',
      retry: o.pivot ? { until: 'success' } : { maxAttempts: 1 },
      ...(o.pivot ? { pivot: true } : {}),
      ...(o.optional ? { optional: true } : {}),
      ...(o.comp
        ? {
            compensate: {
              call: 'reverse',
              with: {
                amount: '${input.amount}',
                currency: '${input.currency}',
                terminalId: '${input.terminalId}',
                stan: '${input.stan}',
              },
            },
          }
        : {}),
    },
    {
      id: `check${n}`,
      switch: [{ when: `!steps.auth${n}.approved`, do: [{ id: `declined${n}`, fail: { code: 'DECLINED' } }] }],
      default: [],
    },
  ],
  (n, o) => [
    {
      id: `post${n}`,
      call: 'postReservation',
      // Refers to the first reservation; the compiler refuses it when that one is not on the path.
      with: { accountId: acct, reservationId: '${steps.reserve0.reservationId}' },
      timeout: '5s',
      retry: o.pivot || !o.bounded ? { until: 'success' } : { maxAttempts: 2 },
      ...(o.pivot ? { pivot: true } : {}),
    },
  ],
  (n, o) => [
    {
      id: `ticket${n}`,
      foreach: '${input.items}',
      maxItems: 3,
      do: [
        {
          id: `issue${n}`,
          call: 'issueTicket',
          with: {
            gameId: 'g',
            drawId: o.bounded ? '${item}' : 'd',
            numbers: [1, 2],
            amount: '${input.amount}',
            currency: '${input.currency}',
          },
          timeout: '5s',
          retry: { maxAttempts: 2 },
          ...(o.comp
            ? { compensate: { call: 'cancelTicket', with: { gameId: 'g', drawId: o.bounded ? '${item}' : 'd' } } }
            : {}),
        },
      ],
    },
  ],
  (n, o) => [
    {
      id: `answer${n}`,
      call: 'sendToTerminal',
      with: { terminalId: '${input.terminalId}', message: 'APPROVED' },
      timeout: '5s',
      retry: o.bounded ? { maxAttempts: 2 } : { until: 'success' },
      ...(o.optional ? { optional: true } : {}),
    },
  ],
  (n) => [{ id: `event${n}`, emit: { event: 'x.done', data: { stan: '${input.stan}' } } }],
  (n, o) => [
    {
      id: `mayFail${n}`,
      switch: [
        {
          when: "steps.binding.merchantId == 'M0001'",
          do: o.optional ? [{ id: `late${n}`, fail: { code: 'LATE' } }] : [{ id: `fine${n}`, set: { [`f${n}`]: 1 } }],
        },
      ],
      default: [],
    },
  ],
  (n) => [{ id: `pause${n}`, wait: '1s' }],
  (n, o) => [
    {
      id: `ask${n}`,
      listen: {
        signal: `go${n}`,
        timeout: '5s',
        into: `go${n}`,
        schema: { type: 'object', properties: { ok: { type: 'boolean' } } },
      },
      ...(o.comp ? { onTimeout: [{ id: `noGo${n}`, set: { [`g${n}`]: 1 } }] } : {}),
    },
  ],
];

interface PieceChoice {
  kind: number;
  comp: boolean;
  pivot: boolean;
  optional: boolean;
  bounded: boolean;
}

const pieceArb: fc.Arbitrary<PieceChoice> = fc.record({
  kind: fc.integer({ min: 0, max: palette.length - 1 }),
  comp: fc.boolean(),
  pivot: fc.boolean(),
  optional: fc.boolean(),
  bounded: fc.boolean(),
});

function definition(pieces: readonly PieceChoice[]): string {
  const steps: Step[] = [
    {
      id: 'binding',
      call: 'checkBinding',
      with: { terminalId: '${input.terminalId}', ani: '${input.ani}' },
      timeout: '3s',
      retry: { maxAttempts: 2 },
    },
  ];
  pieces.forEach((p, n) => steps.push(...(palette[p.kind]?.(n, p) ?? [])));
  return stringify({
    apiVersion: 'fixpay/v1',
    kind: 'Service',
    metadata: { id: 'random', version: '1.0.0' },
    spec: {
      businessKey: '${input.terminalId}:${input.stan}:${input.localDate}',
      terminalId: '${input.terminalId}',
      limits: { maxDuration: '10m', maxHistoryEvents: 2000 },
      input: {
        type: 'object',
        required: ['terminalId', 'stan', 'localDate', 'ani', 'pan', 'pinBlock', 'amount', 'currency', 'items'],
        properties: {
          terminalId: { type: 'string' },
          stan: { type: 'string' },
          localDate: { type: 'string' },
          ani: { type: 'string' },
          pan: { type: 'string', sensitive: 'pan' },
          pinBlock: { type: 'string', sensitive: 'pinBlock' },
          amount: { type: 'integer', money: true },
          currency: { type: 'string' },
          items: { type: 'array', items: { type: 'string' } },
        },
      },
      steps,
    },
  });
}

/** Every call and compensation id a fault can target (an exhaustive walk over the step kinds). */
function faultTargets(steps: readonly PlanStep[], out: string[] = []): string[] {
  for (const s of steps) {
    switch (s.kind) {
      case 'call':
        out.push(s.id, ...(s.compensation === null ? [] : [`~${s.id}`]));
        break;
      case 'emit':
        out.push(s.id);
        break;
      case 'switch':
        s.cases.forEach((c) => faultTargets(c.steps, out));
        if (s.default !== null) faultTargets(s.default, out);
        break;
      case 'parallel':
        s.branches.forEach((b) => faultTargets(b, out));
        break;
      case 'foreach':
        faultTargets(s.steps, out);
        break;
      case 'listen':
        if (s.onTimeout !== null) faultTargets(s.onTimeout, out);
        break;
      case 'wait':
      case 'set':
      case 'fail':
      case 'subflow':
        break;
      default: {
        const unknown: never = s;
        throw new Error(`unhandled step kind ${String((unknown as { kind?: unknown }).kind)}`);
      }
    }
  }
  return out;
}

const faultArb: fc.Arbitrary<Fault> = fc.record({
  kind: fc.constantFrom<Fault['kind']>('fail', 'timeout', 'ambiguous'),
  attempts: fc.integer({ min: 1, max: 12 }),
});

describe('random definitions: the compiler never throws, and what it accepts keeps money balanced', () => {
  it('every accepted definition ends balanced under any combination of faults', async () => {
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(pieceArb, { minLength: 1, maxLength: 7 }),
        fc.array(fc.tuple(fc.nat(), faultArb), { maxLength: 4 }),
        fc.boolean(),
        async (pieces, rawFaults, goSignals) => {
          const text = definition(pieces);
          const r = compileDefinition(text, 'random.yaml', { catalogue });
          if (!r.ok) {
            refused++;
            expect(r.diagnostics.length).toBeGreaterThan(0);
            return;
          }
          accepted++;
          const targets = faultTargets(r.plan.steps);
          const faults = new Map<string, Fault>();
          for (const [i, f] of rawFaults) {
            const t = targets[i % Math.max(1, targets.length)];
            if (t !== undefined) faults.set(t, f);
          }
          const messages: Record<string, unknown> = {};
          if (goSignals) for (let n = 0; n < pieces.length; n++) messages[`go${n}`] = { ok: true };
          const world = new FakeWorld(catalogue);
          const { result } = await runFake(
            world,
            { plan: r.plan, planHash: planHash(r.plan), input: INPUT },
            { workflowId: 'random:T0000001:000123:1126', faults, messages },
          );
          const posted = [...world.effects.values()].filter((e) => e.settled);
          const problems = [
            ...world.violations(result.outcome),
            ...(result.outcome === 'COMPLETED'
              ? []
              : posted.map((e) => `${e.key} posted but the run ${result.outcome}`)),
          ];
          expect({ text, faults: [...faults], outcome: result.outcome, problems }).toEqual({
            text,
            faults: [...faults],
            outcome: result.outcome,
            problems: [],
          });
        },
      ),
      { numRuns: 800, seed: 15 },
    );
    // The generator must exercise both sides of the gate.
    expect(accepted).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(50);
  });
});
