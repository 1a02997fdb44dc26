/**
 * Every shipped phone family over real FSK on one node: four terminals, each bound (by its caller
 * number) to a different device profile, call the same engine at the same time over the TCP PCM
 * driver. Each terminal speaks only its own profile's modem and link (modulation, lead-in, seizure,
 * length field, check), so a call succeeds only if the engine answers it with the profile bound to
 * that terminal, not with the node's default.
 */
import { ChannelEngine } from './engine';
import type { RequestHandler, TerminalRequest } from './engine';
import { TcpPcmLineDriver } from './lines/tcp-pcm';
import { loadProfiles, requireProfile } from './profiles';
import { dialTerminal } from './__fixtures__/terminal-call';

const profiles = loadProfiles();
const FAMILIES = [...profiles.keys()].sort();
const DEFAULT_PROFILE = 'es201912-v23';
const callerOf = (i: number): string => `05718888010${i}`;
const answerTo = (req: Uint8Array): number[] => [0x5a, ...req].reverse();

describe('phone families over real FSK on one node', () => {
  jest.setTimeout(60_000);

  it('four terminals, each bound to another family, transact at the same time, each with its own modem and link', async () => {
    expect(FAMILIES.length).toBeGreaterThanOrEqual(4);
    const bound = new Map(FAMILIES.map((id, i) => [callerOf(i), id]));
    const seen: TerminalRequest[] = [];
    const handler: RequestHandler = (req) => {
      seen.push(req);
      return Promise.resolve(Uint8Array.from(answerTo(req.payload)));
    };
    const driver = new TcpPcmLineDriver({ port: 0 });
    const engine = new ChannelEngine({
      profiles,
      defaultProfileId: DEFAULT_PROFILE,
      handler,
      nodeId: 'families',
      resolveProfile: (offer) => Promise.resolve(bound.get(offer.callerNumber ?? '')),
    }).addDriver(driver);
    await engine.start();
    try {
      const results = await Promise.all(
        FAMILIES.map(async (id, i) => {
          const call = await dialTerminal(driver.port, requireProfile(profiles, id), callerOf(i));
          try {
            // 300 bytes: more than one frame for the profiles with a smaller payload limit.
            const request = Uint8Array.from({ length: 300 }, (_, k) => (k * 29 + i * 7) & 0xff);
            await call.terminal.send(request);
            const response = await call.terminal.receive();
            await new Promise((r) => setTimeout(r, 400)); // let the ACK of the answer leave before REL
            call.terminal.release();
            const reason = await call.ended;
            return { id, response: [...response], expected: answerTo(request), reason };
          } finally {
            call.dispose();
          }
        }),
      );
      for (const r of results) {
        expect({ id: r.id, response: r.response, reason: r.reason }).toEqual({
          id: r.id,
          response: r.expected,
          reason: 'hangup',
        });
      }
      expect(seen.map((r) => [r.callerNumber, r.profileId]).sort()).toEqual([...bound].sort());
      expect(engine.metrics()).toMatchObject({
        profilesResolved: FAMILIES.length,
        profileFallbacks: 0,
        outcomes: { OK: FAMILIES.length },
        linesActive: 0,
      });
    } finally {
      await engine.stop();
    }
  });
});
