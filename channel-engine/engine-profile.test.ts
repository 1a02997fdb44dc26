/**
 * The engine's profile port: the resolver is asked at call setup, its profile is used, and a
 * failing or unknown answer falls back (counted) without ending the call; a line is held while
 * the answer is awaited, and a hang-up meanwhile ends the call cleanly.
 */
import { ChannelEngine } from './engine';
import type { ProfileResolver } from './engine';
import type { CallListener, CallOffer, LineCall } from './lines/types';
import { loadProfiles } from './profiles';

const profiles = loadProfiles();

function dial(engine: ChannelEngine, lineId: string): { listener: CallListener; hungUp: () => number } {
  let hangups = 0;
  const offer: CallOffer = { lineId, driver: 'fake', callerNumber: '862150000002', calledNumber: undefined };
  const answer = engine.offer(offer);
  if (!answer.accept) throw new Error(`refused ${answer.codeName}`);
  const call: LineCall = {
    offer,
    play: () => undefined,
    playing: false,
    hangup: () => {
      hangups++;
    },
  };
  return { listener: answer.attach(call), hungUp: () => hangups };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function engineWith(resolveProfile: ProfileResolver, maxLines = 4): ChannelEngine {
  return new ChannelEngine({
    profiles,
    handler: (r) => Promise.resolve(r.payload),
    nodeId: 't',
    defaultProfileId: 'es201912-v23',
    resolveProfile,
    maxLines,
  });
}

describe('engine profile resolver', () => {
  it('answers with the profile the resolver names for the caller', async () => {
    const engine = engineWith((o) => Promise.resolve(o.callerNumber === '862150000002' ? 'bell202-crc16' : undefined));
    dial(engine, 'a');
    await settle();
    expect(engine.liveCalls()).toMatchObject([{ lineId: 'a', profileId: 'bell202-crc16' }]);
    expect(engine.metrics()).toMatchObject({ profilesResolved: 1, profileFallbacks: 0 });
    engine.hangup('a');
  });

  it.each([
    ['a rejecting resolver', (): Promise<string | undefined> => Promise.reject(new Error('db down'))],
    ['an unknown profile id', (): Promise<string | undefined> => Promise.resolve('no-such-profile')],
  ])('%s falls back to the default profile, counted', async (_name, resolver) => {
    const engine = engineWith(resolver);
    dial(engine, 'a');
    await settle();
    expect(engine.liveCalls()).toMatchObject([{ lineId: 'a', profileId: 'es201912-v23' }]);
    expect(engine.metrics()).toMatchObject({ profilesResolved: 0, profileFallbacks: 1 });
    engine.hangup('a');
  });

  it('no profile for the caller: the default, counted as unresolved', async () => {
    const engine = engineWith(() => Promise.resolve(undefined));
    dial(engine, 'a');
    await settle();
    expect(engine.liveCalls()).toMatchObject([{ profileId: 'es201912-v23' }]);
    expect(engine.metrics().profilesUnresolved).toBe(1);
    engine.hangup('a');
  });

  it('holds the line while resolving; a hang-up meanwhile ends the call without starting it', async () => {
    let answer: ((id: string | undefined) => void) | undefined;
    const engine = engineWith(
      () =>
        new Promise((r) => {
          answer = r;
        }),
      1,
    );
    const { listener } = dial(engine, 'a');
    listener.onAudio(new Int16Array(160));
    expect(engine.metrics().linesActive).toBe(1);
    expect(engine.offer({ lineId: 'b', driver: 'fake', callerNumber: '1', calledNumber: undefined })).toEqual({
      accept: false,
      codeName: 'ENGINE_LINES_EXHAUSTED',
    });
    listener.onHangup('remote');
    answer?.('bell202-crc16');
    await settle();
    const m = engine.metrics();
    expect(m).toMatchObject({ linesActive: 0, callsAnswered: 1, callsEnded: 1 });
    expect(engine.liveCalls()).toEqual([]);
    await engine.drain(1000);
  });
});
