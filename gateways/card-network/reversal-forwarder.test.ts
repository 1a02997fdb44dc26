// The forwarder is event-driven in-process: a wake-up sends a queued reversal without waiting for
// the periodic sweep, and a retry is attempted at its own time. The sweep here is an hour, so only
// the wake-ups can explain the sends.
import { isoMessage } from '../iso8583';
import type { IsoMessage } from '../iso8583';
import { ReversalForwarder } from './reversal-forwarder';
import { InMemoryReversalQueue } from './reversal-queue';
import type { NewReversal } from './reversal-queue';

const SWEEP_MS = 3_600_000;
const WAIT_MS_MAX = 5_000;

const reversal = (key: string): NewReversal => ({
  key,
  deadlineAt: new Date(),
  message: {
    originalMti: '0200',
    processingCode: '000000',
    amount: '000000001000',
    currency: '156',
    stan: '000001',
    transmissionDateTime: '1126100000',
    terminalId: 'TERM0001',
    merchantId: 'MERCHANT0000001',
    acquirerId: '1234',
    forwardingId: '5678',
    reasonCode: '98',
  },
});

async function until(check: () => Promise<boolean>): Promise<void> {
  const giveUp = Date.now() + WAIT_MS_MAX;
  while (!(await check())) {
    if (Date.now() > giveUp) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Every forwarder a test made: stopped after it, so a failed test leaves no hour-long sweep behind. */
const started: ReversalForwarder[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((f) => f.stop()));
});

function forwarder(
  queue: InMemoryReversalQueue,
  answers: (string | Error)[],
): { f: ReversalForwarder; sent: string[] } {
  const sent: string[] = [];
  const send = (msg: IsoMessage): Promise<IsoMessage> => {
    sent.push(msg.mti);
    const next = answers.shift() ?? '00';
    return next instanceof Error ? Promise.reject(next) : Promise.resolve(isoMessage('0410', { 39: next }));
  };
  const f = new ReversalForwarder(
    { queue, send, clock: () => new Date() },
    { requestTimeoutMs: 1_000, pollIntervalMs: SWEEP_MS, retryDelayMsMin: 20, retryDelayMsMax: 40 },
  );
  started.push(f);
  return { f, sent };
}

describe('reversal forwarder wake-ups', () => {
  it('sends a reversal queued after the first pass as soon as it is woken, once', async () => {
    const queue = new InMemoryReversalQueue();
    const { f, sent } = forwarder(queue, ['00']);
    f.start();
    await new Promise((r) => setTimeout(r, 20)); // the first pass found nothing
    await queue.enqueue(reversal('k1'), new Date());
    f.wake();
    await until(async () => (await queue.get('k1'))?.status === 'done');
    await f.stop();
    expect(sent).toEqual(['0400']);
  });

  it('repeats an unanswered reversal at its retry time without the sweep, then stops', async () => {
    const queue = new InMemoryReversalQueue();
    const { f, sent } = forwarder(queue, ['91', '00']);
    f.start();
    await queue.enqueue(reversal('k2'), new Date());
    f.wake();
    await until(async () => (await queue.get('k2'))?.status === 'done');
    await f.stop();
    // 0400 first, then the repeat as 0401; acknowledged once.
    expect(sent).toEqual(['0400', '0401']);
    expect((await queue.get('k2'))?.lastResponseCode).toBe('00');
  });

  it('ignores wake-ups once stopped', async () => {
    const queue = new InMemoryReversalQueue();
    const { f, sent } = forwarder(queue, []);
    f.start();
    await f.stop();
    await queue.enqueue(reversal('k3'), new Date());
    f.wake();
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).toEqual([]);
    expect((await queue.get('k3'))?.status).toBe('pending');
  });
});
