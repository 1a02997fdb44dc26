import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { FakeWorld } from '../catalogue/fake';
import { compileDefinition } from '../compiler/compile';
import { canonicalJson, planHash } from '../plan/hash';
import { runFake } from '../testing/fake-runtime';
import type { Plan } from './plan';

const catalogue = defaultCatalogue();
const DEFS = join(__dirname, '..', '..', 'definitions');

function compile(file: string, dir = DEFS): Plan {
  const r = compileDefinition(readFileSync(join(dir, file), 'utf8'), file, { catalogue });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.plan;
}

/** One reservation, a foreach issuing each ticket: the shape these semantics are shown on. */
const PER_TICKET = ['lottery-per-ticket.yaml', join(__dirname, '__fixtures__')] as const;

const lotteryInput = {
  terminalId: 'T4',
  ani: '1',
  stan: '000400',
  localDate: '1126',
  gameId: 'g',
  drawId: 'd',
  pricePerTicket: 200,
  currency: '156',
  tickets: [{ numbers: [1] }, { numbers: [2] }, { numbers: [3] }],
};

describe('interpreter semantics (fake runtime)', () => {
  it('derives idempotency keys from workflow id, step id and iteration — the same on every run', async () => {
    const plan = compile(...PER_TICKET);
    const keys = async (): Promise<string[]> => {
      const world = new FakeWorld(catalogue);
      await runFake(world, { plan, planHash: 'h', input: lotteryInput }, { workflowId: 'lottery:T4:000400:1126' });
      return world.calls.map((c) => c.key);
    };
    const first = await keys();
    expect(first).toContain('lottery:T4:000400:1126/issue#0.2');
    expect(first).toContain('lottery:T4:000400:1126/reserve#0');
    expect(await keys()).toEqual(first);
  });

  it('compensates last-in first-out with the original keys, each once', async () => {
    const plan = compile(...PER_TICKET);
    const world = new FakeWorld(catalogue);
    const { result, interpreter } = await runFake(
      world,
      { plan, planHash: 'h', input: lotteryInput },
      { workflowId: 'w', faults: new Map([['post', { kind: 'fail', attempts: 0 }]]), messages: {} },
    );
    expect(result.outcome).toBe('COMPLETED');
    expect(interpreter.trace).toEqual(['binding', 'reserve', 'issue', 'issue', 'issue', 'post', 'answer']);

    const failing = new FakeWorld(catalogue);
    const run = await runFake(
      failing,
      { plan, planHash: 'h', input: lotteryInput },
      // the third ticket fails on every attempt: tickets 2, 1 and the reservation are undone, in that order
      { workflowId: 'w2', faults: new Map([['issue#0.2', { kind: 'fail' }]]) },
    );
    expect(run.result.outcome).toBe('COMPENSATED');
    const undo = failing.calls.filter((c) => c.key.includes('/~')).map((c) => c.key);
    expect(undo).toEqual(['w2/~issue#0.2', 'w2/~issue#0.1', 'w2/~issue#0.0', 'w2/~reserve#0']);
    expect(failing.violations(run.result.outcome)).toEqual([]);
  });

  it('keeps retrying a failing compensation, raising an alert after each N attempts', async () => {
    const plan = compile('mobile-topup.yaml');
    const world = new FakeWorld(catalogue);
    const n = plan.compensation.alertAfterAttempts;
    const { result, runtime, interpreter } = await runFake(
      world,
      {
        plan,
        planHash: 'h',
        input: {
          terminalId: 'T',
          ani: '1',
          stan: '1',
          localDate: '1',
          operator: 'o',
          productId: 'p',
          msisdn: '1',
          amount: 5,
          currency: '156',
        },
      },
      {
        workflowId: 'w',
        faults: new Map([
          ['topup', { kind: 'ambiguous' }],
          ['~topup', { kind: 'fail', attempts: n * 2 + 1 }],
        ]),
      },
    );
    expect(result.outcome).toBe('COMPENSATED');
    expect(runtime.attempts.get('~topup#0')).toBe(n * 2 + 2); // 2 failed rounds, then fail + success
    expect(world.calls.filter((c) => c.activity === 'raiseAlert')).toHaveLength(2);
    expect(interpreter.progress.alerts).toBe(2);
    expect(world.violations('COMPENSATED')).toEqual([]);
  });

  it('refuses input that does not match the plan, without calling anything', async () => {
    const plan = compile('payment.yaml');
    const world = new FakeWorld(catalogue);
    const { result } = await runFake(world, { plan, planHash: 'h', input: { terminalId: 7 } }, { workflowId: 'w' });
    expect(result).toMatchObject({ outcome: 'FAILED', code: 'SVC_INPUT_INVALID' });
    expect(result.message).not.toMatch(/\d{12,}/);
    expect(world.calls).toEqual([]);
  });
});

describe('plans', () => {
  it('hash canonical JSON: key order and YAML formatting do not change the hash', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const text = readFileSync(join(DEFS, 'payment.yaml'), 'utf8');
    const a = compileDefinition(text, 'a', { catalogue });
    const b = compileDefinition(`# a comment\n${text.replace(/\n\n/g, '\n')}`, 'b', { catalogue });
    if (!a.ok || !b.ok) throw new Error('compile');
    expect(planHash(a.plan)).toBe(planHash(b.plan));
    expect(planHash(a.plan)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('are pure JSON: a round trip through JSON changes nothing', () => {
    const plan = compile('bill-payment.yaml');
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });
});

describe('sandbox safety of services/runtime', () => {
  // The interpreter workflow bundles these files: no Node built-ins, no packages (yaml, ajv, …).
  const files = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  it.each(files)('%s imports only pure modules', (file) => {
    const src = readFileSync(join(__dirname, file), 'utf8');
    const specifiers = [...src.matchAll(/from '([^']+)'/g)].map((m) => m[1] ?? '');
    for (const s of specifiers) expect(s).toMatch(/^(\.\/[a-z-]+|\.\.\/\.\.\/domain\/[a-z-]+)$/);
  });
});

describe('run-time expression errors (fake runtime)', () => {
  const file = join(__dirname, '__fixtures__', 'overflow-after-reserve.yaml');
  const r = compileDefinition(readFileSync(file, 'utf8'), file, { catalogue });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  const plan = r.plan;

  it('fails the step on an integer overflow in its arguments and voids the reservation', async () => {
    const world = new FakeWorld(catalogue);
    const { result, interpreter } = await runFake(
      world,
      { plan, planHash: 'h', input: { ref: 'r1', amount: 500, n: 2 ** 40 } },
      { workflowId: 'ov1' },
    );
    expect(result.outcome).toBe('COMPENSATED');
    expect(result.code).toBe('SVC_EXPRESSION_FAILED');
    expect(result.message).toBe('notify: integer overflow');
    expect(interpreter.trace).toEqual(['reserve', '~reserve']);
    expect(interpreter.progress.steps['notify#0']).toBe('failed');
    expect(world.calls.map((c) => c.activity)).toEqual(['reserveFunds', 'voidReservation']);
    expect(world.violations(result.outcome)).toEqual([]);
  });

  it('completes the same plan when the expression stays in range', async () => {
    const world = new FakeWorld(catalogue);
    const { result } = await runFake(
      world,
      { plan, planHash: 'h', input: { ref: 'r2', amount: 500, n: 3 } },
      { workflowId: 'ov2' },
    );
    expect(result.outcome).toBe('COMPLETED');
  });
});
