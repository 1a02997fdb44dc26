/**
 * The engine's per-call fault boundary (issue 10): a line whose play() throws (a driver bug, a
 * closed socket) ends that call with LINE_CALL_FAULT instead of throwing out of a timer or
 * setImmediate, where it would stop the process and every other call. Also the admission policy:
 * the reserve is kept for offers `mayUseReserve` admits.
 */
import { ChannelEngine } from './engine';
import type { CallListener, CallOffer, LineCall } from './lines/types';
import { loadProfiles } from './profiles';

const profiles = loadProfiles();

function offerCall(
  engine: ChannelEngine,
  lineId: string,
  o: { playThrows?: boolean; trusted?: boolean } = {},
): { accepted: boolean; code?: string; hungUp: () => number; listener?: CallListener } {
  let hangups = 0;
  const offer: CallOffer = {
    lineId,
    driver: 'fake',
    callerNumber: '057100001111',
    calledNumber: undefined,
    trustedSource: o.trusted === true,
  };
  const answer = engine.offer(offer);
  if (!answer.accept) return { accepted: false, code: answer.codeName, hungUp: () => hangups };
  const call: LineCall = {
    offer,
    play: () => {
      if (o.playThrows === true) throw new Error('socket is closed');
    },
    playing: false,
    hangup: () => {
      hangups++;
    },
  };
  return { accepted: true, listener: answer.attach(call), hungUp: () => hangups };
}

describe('engine fault containment and admission', () => {
  it('a throwing line ends only its own call (LINE_CALL_FAULT, hung up, line freed)', async () => {
    const engine = new ChannelEngine({ profiles, handler: (r) => Promise.resolve(r.payload), nodeId: 't' });
    const bad = offerCall(engine, 'bad', { playThrows: true });
    const good = offerCall(engine, 'good');
    // EST goes out after the profile's answer delay: wait for the fault, bounded.
    for (let i = 0; i < 300 && engine.metrics().callFaults === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const m = engine.metrics();
    expect(m.callFaults).toBe(1);
    expect(m.outcomes).toEqual({ LINE_CALL_FAULT: 1 });
    expect(bad.hungUp()).toBe(1);
    expect(good.hungUp()).toBe(0);
    expect(engine.liveCalls().map((c) => c.lineId)).toEqual(['good']);
    // Events on the dead call are ignored; the live one still takes audio.
    bad.listener?.onAudio(new Int16Array(160));
    good.listener?.onAudio(new Int16Array(160));
    engine.hangup('good');
  });

  it('keeps reservedLines for trusted offers and exposes capacity', () => {
    const engine = new ChannelEngine({
      profiles,
      handler: (r) => Promise.resolve(r.payload),
      nodeId: 't',
      maxLines: 3,
      reservedLines: 1,
    });
    expect(offerCall(engine, 'a').accepted).toBe(true);
    expect(offerCall(engine, 'b').accepted).toBe(true);
    expect(engine.metrics()).toMatchObject({ linesMax: 3, linesReserved: 1, linesFreeUnreserved: 0 });
    expect(offerCall(engine, 'c')).toMatchObject({ accepted: false, code: 'ENGINE_LINES_RESERVED' });
    expect(offerCall(engine, 'd', { trusted: true }).accepted).toBe(true);
    expect(offerCall(engine, 'e', { trusted: true })).toMatchObject({
      accepted: false,
      code: 'ENGINE_LINES_EXHAUSTED',
    });
    expect(engine.metrics()).toMatchObject({ linesActive: 3, callsRefusedReserved: 1, callsRefused: 2 });
    for (const id of ['a', 'b', 'd']) engine.hangup(id);
  });

  it('refuses a reserve that leaves no line for anyone else at construction', () => {
    expect(
      () => new ChannelEngine({ profiles, handler: (r) => Promise.resolve(r.payload), maxLines: 2, reservedLines: 2 }),
    ).toThrow(/reservedLines/);
  });
});
