/**
 * A terminal prompt in the interpreter (ADR 0018): the screen is built and handed to the call, then
 * the run takes one reply to the prompt it waits for; a reply to another prompt, a second reply and
 * a reply after the prompt ended are refused; a hang-up fails the step and compensates.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultCatalogue } from '../catalogue/entries';
import { FakeWorld } from '../catalogue/fake';
import { compileDefinition } from '../compiler/compile';
import { FakeRuntime } from '../testing/fake-runtime';
import { Interpreter } from './interpreter';
import type { Plan } from './plan';
import { TERMINAL_HANGUP_MESSAGE, TERMINAL_REPLY_MESSAGE } from './plan';

const catalogue = defaultCatalogue();
const FIXTURE = join(__dirname, '..', '..', 'test', 'e2e', '__fixtures__', 'household-bill.yaml');

function plan(): Plan {
  const r = compileDefinition(readFileSync(FIXTURE, 'utf8'), FIXTURE, { catalogue });
  if (!r.ok) throw new Error(JSON.stringify(r.diagnostics));
  return r.plan;
}

const input = {
  request: '00',
  terminalId: 'T0000002',
  stan: '000100',
  localDate: '20261203',
  ani: '862150000002',
  psamId: 'P',
  nodeId: 'n1',
  currency: '156',
  customer: '12345678',
  amount: 4550,
};

/** A runtime whose prompt wait runs `atPrompt` (the access node's messages) instead of scripting a reply. */
class PromptRuntime extends FakeRuntime {
  constructor(
    world: FakeWorld,
    private readonly atPrompt: (interp: Interpreter) => void,
  ) {
    super(world, { workflowId: 'household-bill:T0000002:000100:20261203' });
  }
  override condition(fn: () => boolean, timeoutMs: number, waitingFor: string): Promise<boolean> {
    if (this.interpreter?.promptStep() === waitingFor) {
      this.atPrompt(this.interpreter);
      if (fn()) return Promise.resolve(true);
      this.clockMs += timeoutMs;
      return Promise.resolve(false);
    }
    return super.condition(fn, timeoutMs, waitingFor);
  }
}

async function run(atPrompt: (interp: Interpreter) => void) {
  const world = new FakeWorld(catalogue);
  const rt = new PromptRuntime(world, atPrompt);
  const interp = new Interpreter(rt, { plan: plan(), planHash: 'h', input });
  rt.interpreter = interp;
  const result = await interp.run();
  return { result, world, interp };
}

const reply = (promptId: string, value = '1', status = 'answered') => ({ promptId, status, value });

describe('terminal prompts in the interpreter', () => {
  it('takes one reply to the prompt it waits for, refuses the others, and goes on with it', async () => {
    const problems: (string | null)[] = [];
    const { result, world, interp } = await run((i) => {
      problems.push(i.checkMessage(TERMINAL_REPLY_MESSAGE, reply('other#0')));
      problems.push(i.checkMessage(TERMINAL_REPLY_MESSAGE, { promptId: 'confirm#0', status: 'maybe', value: '1' }));
      problems.push(i.checkMessage(TERMINAL_REPLY_MESSAGE, reply('confirm#0')));
      i.deliver(TERMINAL_REPLY_MESSAGE, reply('confirm#0'));
      problems.push(i.checkMessage(TERMINAL_REPLY_MESSAGE, reply('confirm#0', '2')));
    });
    expect(problems[0]).toMatch(/no prompt 'other#0'/);
    expect(problems[1]).toMatch(/status/);
    expect(problems[2]).toBeNull();
    expect(problems[3]).toMatch(/already answered/);
    expect(result).toMatchObject({ outcome: 'COMPLETED' });
    expect(world.calls.map((c) => c.activity)).toEqual(
      expect.arrayContaining(['promptTerminal', 'deliverTerminalResponse', 'postReservation', 'formatReceipt']),
    );
    // After the run, a late reply is refused: the prompt is over.
    expect(interp.checkMessage(TERMINAL_REPLY_MESSAGE, reply('confirm#0'))).toMatch(/is over/);
  });

  it('NO: the run declines and voids the reservation', async () => {
    const { result, world } = await run((i) => i.deliver(TERMINAL_REPLY_MESSAGE, reply('confirm#0', '2')));
    expect(result).toMatchObject({ outcome: 'COMPENSATED', code: 'NOT_CONFIRMED' });
    expect(world.violations(result.outcome)).toEqual([]);
    expect(world.calls.map((c) => c.activity)).not.toContain('postReservation');
  });

  it('a hang-up at the prompt fails it with TERMINAL_HUNG_UP and compensates; a hang-up for another prompt is ignored', async () => {
    const { result, world } = await run((i) => {
      expect(i.checkMessage(TERMINAL_HANGUP_MESSAGE, { promptId: 'x#0' })).not.toBeNull();
      i.deliver(TERMINAL_HANGUP_MESSAGE, { promptId: 'confirm#0' });
    });
    expect(result).toMatchObject({ outcome: 'COMPENSATED', code: 'TERMINAL_HUNG_UP' });
    expect(world.violations(result.outcome)).toEqual([]);
  });

  it('no reply: the listen times out into onTimeout, and the reservation is voided', async () => {
    const { result, world } = await run(() => undefined);
    expect(result).toMatchObject({ outcome: 'COMPENSATED', code: 'CONFIRMATION_TIMEOUT' });
    expect(world.violations(result.outcome)).toEqual([]);
  });
});
