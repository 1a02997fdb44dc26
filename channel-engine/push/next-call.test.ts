import type { PushCallOutcome } from '../../domain/push';
import { loadProfiles } from '../profiles';
import type { CallListener, CallOffer, LineDriver, LineHost } from '../lines/types';
import type { PushDial, PushLine } from './dialer';
import { NextCallDelivery, withCallEndHook, type PendingPush, type PendingPushes } from './next-call';

const profiles = loadProfiles();
const offer = (callerNumber: string | undefined): CallOffer => ({
  lineId: `tcp:${callerNumber ?? 'x'}`,
  driver: 'tcp-pcm',
  callerNumber,
  calledNumber: undefined,
});

class FakeLine implements PushLine {
  dials: PushDial[] = [];
  constructor(private readonly outcome: PushCallOutcome = 'delivered') {}
  linesInUse = 0;
  dial(d: PushDial): Promise<PushCallOutcome> {
    this.dials.push(d);
    return Promise.resolve(this.outcome);
  }
  metrics(): Record<string, number> {
    return {};
  }
  close(): void {}
}

class FakeStore implements PendingPushes {
  settled: [string, PushCallOutcome][] = [];
  asked = 0;
  constructor(
    private readonly pending: PendingPush[],
    private readonly fail = false,
  ) {}
  pendingFor(caller: string): Promise<PendingPush[]> {
    this.asked++;
    if (this.fail) return Promise.reject(new Error('database down'));
    return Promise.resolve(
      this.pending.filter((p) => p.calledNumber === caller && !this.settled.some(([id]) => id === p.id)),
    );
  }
  settle(id: string, outcome: PushCallOutcome): Promise<void> {
    this.settled.push([id, outcome]);
    return Promise.resolve();
  }
}

const push = (id: string, text = 'Bill due', profileId = 'es201912-v23'): PendingPush => ({
  id,
  calledNumber: '862150000001',
  text,
  profileId,
});
const options = { afterCallDelayMs: 1, profiles, defaultProfileId: 'es201912-v23' };

describe('delivery at the next call', () => {
  it('dials each pending push of the caller once the call ended, and settles it', async () => {
    const store = new FakeStore([push('a'), push('b')]);
    const line = new FakeLine();
    const n = new NextCallDelivery(store, line, options);
    n.callEnded(offer('862150000001'));
    await n.idle();
    expect(line.dials.map((d) => d.calledNumber)).toEqual(['862150000001', '862150000001']);
    expect(store.settled).toEqual([
      ['a', 'delivered'],
      ['b', 'delivered'],
    ]);
    expect(n.metrics()).toMatchObject({ nextCallDelivered: 2 });
  });

  it('ignores calls without a caller number, and a second call-in while the first is being served', async () => {
    const store = new FakeStore([push('a')]);
    const line = new FakeLine();
    const n = new NextCallDelivery(store, line, options);
    n.callEnded(offer(undefined));
    n.callEnded(offer('862150000001'));
    n.callEnded(offer('862150000001'));
    await n.idle();
    expect(store.asked).toBe(1);
    expect(line.dials).toHaveLength(1);
  });

  it('settles a push whose text the terminal cannot show as refused, without dialling', async () => {
    const store = new FakeStore([push('long', 'x'.repeat(40), 'v23-compact-crc16')]);
    const line = new FakeLine();
    const n = new NextCallDelivery(store, line, options);
    n.callEnded(offer('862150000001'));
    await n.idle();
    expect(line.dials).toHaveLength(0);
    expect(store.settled).toEqual([['long', 'refused']]);
  });

  it('counts a store failure and never throws', async () => {
    const n = new NextCallDelivery(new FakeStore([], true), new FakeLine(), options);
    n.callEnded(offer('862150000001'));
    await n.idle();
    expect(n.metrics()).toMatchObject({ nextCallErrors: 1, nextCallDelivered: 0 });
  });

  it('reports the end of every accepted call, after the engine has seen it; refused offers pass through', async () => {
    const seen: string[] = [];
    const ended: string[] = [];
    const host: LineHost = {
      draining: false,
      offer: (o) =>
        o.callerNumber === 'refuse'
          ? { accept: false, codeName: 'ENGINE_LINES_EXHAUSTED' }
          : {
              accept: true,
              attach: (): CallListener => ({
                onAudio: () => undefined,
                onPlayoutDone: () => undefined,
                onHangup: () => seen.push('engine'),
              }),
            },
    };
    let started: LineHost | undefined;
    const driver: LineDriver = {
      name: 'fake',
      start: (h) => {
        started = h;
        return Promise.resolve();
      },
      stop: () => Promise.resolve(),
      metrics: () => ({ calls: 1 }),
    };
    const hooked = withCallEndHook(driver, (o) => {
      seen.push('hook');
      ended.push(o.callerNumber ?? '');
    });
    await hooked.start(host);
    if (started === undefined) throw new Error('not started');
    expect(started.offer(offer('refuse')).accept).toBe(false);
    const answer = started.offer(offer('862150000001'));
    if (!answer.accept) throw new Error('refused');
    const listener = answer.attach({
      offer: offer('862150000001'),
      play: () => undefined,
      playing: false,
      hangup: () => undefined,
    });
    listener.onHangup('remote');
    expect(seen).toEqual(['engine', 'hook']);
    expect(ended).toEqual(['862150000001']);
    expect(hooked.metrics()).toEqual({ calls: 1 });
  });
});
