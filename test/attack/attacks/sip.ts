/**
 * Attacks on the access node's SIP/RTP line driver (UDP): hostile SDP, malformed and oversized
 * datagrams, floods without ACK, reflection through Via, untrusted sources, RTP injection into a
 * live call. Oracle: the process stays up, hostile offers are refused (4xx), and a live call is not
 * disturbed by packets from elsewhere.
 */
import { randomBytes } from 'node:crypto';
import { buildRtp } from '../../../channel-engine/lines/rtp';
import type { Targets } from '../targets';
import { LOOPBACK, sleep, udpPortsOf, UdpPeer } from '../support';
import { defect, inconclusive, refused } from '../types';
import type { Attack, Verdict } from '../types';

let callSeq = 0;

export interface InviteOptions {
  readonly sdp?: string;
  readonly callId?: string;
  readonly via?: string;
  readonly from?: string;
  readonly extraHeaders?: readonly string[];
  readonly contentLength?: number;
}

export function sdpOffer(o: { address?: string; port?: number | string; media?: string } = {}): string {
  const address = o.address ?? LOOPBACK;
  return [
    'v=0',
    `o=attacker 1 1 IN IP4 ${LOOPBACK}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    o.media ?? `m=audio ${o.port ?? 40000} RTP/AVP 0`,
    'a=rtpmap:0 PCMU/8000',
    '',
  ].join('\r\n');
}

export function invite(peer: UdpPeer, sipPort: number, o: InviteOptions = {}): { text: string; callId: string } {
  const callId = o.callId ?? `attack-${process.pid}-${++callSeq}-${randomBytes(4).toString('hex')}`;
  const body = o.sdp ?? sdpOffer();
  const text = [
    `INVITE sip:95105@${LOOPBACK}:${sipPort} SIP/2.0`,
    o.via ?? `Via: SIP/2.0/UDP ${LOOPBACK}:${peer.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    'Max-Forwards: 70',
    o.from ?? `From: <sip:057188880000@${LOOPBACK}>;tag=${randomBytes(4).toString('hex')}`,
    `To: <sip:95105@${LOOPBACK}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:attacker@${LOOPBACK}:${peer.port}>`,
    'Content-Type: application/sdp',
    ...(o.extraHeaders ?? []),
    `Content-Length: ${o.contentLength ?? Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
  return { text, callId };
}

function statusOf(text: string | undefined): number | undefined {
  const m = /^SIP\/2\.0 (\d{3})/.exec(text ?? '');
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

function header(text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(text);
  return m?.[1]?.trim();
}

/** Sends an INVITE and waits for its final answer (≥ 200); undefined when none came. */
export async function sendInvite(
  peer: UdpPeer,
  sipPort: number,
  o: InviteOptions = {},
  timeoutMs = 3_000,
): Promise<{ status: number | undefined; response: string | undefined; callId: string }> {
  const { text, callId } = invite(peer, sipPort, o);
  await peer.send(text, sipPort);
  const response = await peer.waitFor((r) => r.includes(`Call-ID: ${callId}`) && (statusOf(r) ?? 0) >= 200, timeoutMs);
  return { status: statusOf(response), response, callId };
}

/** Confirms a call the driver answered with 200: audio starts flowing. */
export async function ack(peer: UdpPeer, sipPort: number, response: string): Promise<void> {
  await peer.send(inDialog(peer, sipPort, response, 'ACK', 1), sipPort);
}

/** Confirms (ACK) and hangs up (BYE) a call the driver answered with 200, so lines are not left taken. */
export async function hangUp(peer: UdpPeer, sipPort: number, response: string): Promise<void> {
  await peer.send(inDialog(peer, sipPort, response, 'ACK', 1), sipPort);
  await peer.send(inDialog(peer, sipPort, response, 'BYE', 2), sipPort);
}

function inDialog(peer: UdpPeer, sipPort: number, response: string, method: string, cseq: number): string {
  const callId = header(response, 'Call-ID') ?? '';
  const from = header(response, 'From') ?? '';
  const to = header(response, 'To') ?? '';
  return [
    `${method} sip:95105@${LOOPBACK}:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${LOOPBACK}:${peer.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    'Max-Forwards: 70',
    `From: ${from}`,
    `To: ${to}`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The SIP driver still answers OPTIONS (the process and its socket are alive). */
export async function sipAnswers(ctx: Targets): Promise<boolean> {
  const peer = await UdpPeer.open();
  try {
    const callId = `attack-options-${randomBytes(4).toString('hex')}`;
    await peer.send(
      [
        `OPTIONS sip:95105@${LOOPBACK}:${ctx.ports.sip} SIP/2.0`,
        `Via: SIP/2.0/UDP ${LOOPBACK}:${peer.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
        'Max-Forwards: 70',
        `From: <sip:probe@${LOOPBACK}>;tag=1`,
        `To: <sip:95105@${LOOPBACK}>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 OPTIONS',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
      ctx.ports.sip,
    );
    return (await peer.waitFor((r) => r.includes(callId), 2_000)) !== undefined;
  } finally {
    await peer.close();
  }
}

/** An INVITE with a hostile offer must get a 4xx, and the process must survive a few RTP periods. */
function hostileOffer(
  id: string,
  title: string,
  sdp: () => string,
  o: { severity?: Attack['severity']; reported?: number; quick?: boolean } = {},
): Attack {
  return {
    id,
    target: 'sip',
    severity: o.severity ?? 'high',
    title,
    ...(o.reported === undefined ? {} : { reported: o.reported }),
    quick: o.quick ?? true,
    timeoutMs: 10_000,
    async run(ctx) {
      const peer = await UdpPeer.open();
      try {
        const r = await sendInvite(peer, ctx.ports.sip, { sdp: sdp() });
        if (r.status === 200 && r.response !== undefined) await ack(peer, ctx.ports.sip, r.response);
        await sleep(1_500); // the call is up: several 20 ms RTP periods to a bad destination
        const died = !ctx.platformAlive();
        if (r.status === 200 && r.response !== undefined)
          await hangUp(peer, ctx.ports.sip, r.response).catch(() => undefined);
        if (died) return defect(`the platform process died after the INVITE was answered ${r.status ?? 'nothing'}`);
        if (r.status === 200) return defect('answered 200 OK to a hostile offer (should be 488)');
        return refused(`answered ${r.status ?? 'nothing'}; process up`);
      } finally {
        await peer.close();
      }
    },
  };
}

/** Sends datagrams; the oracle is only that the process stays up and still answers OPTIONS. */
function survives(id: string, title: string, datagrams: (ctx: Targets, peer: UdpPeer) => (string | Buffer)[]): Attack {
  return {
    id,
    target: 'sip',
    severity: 'high',
    title,
    quick: true,
    timeoutMs: 10_000,
    async run(ctx) {
      const peer = await UdpPeer.open();
      try {
        for (const d of datagrams(ctx, peer)) await peer.send(d, ctx.ports.sip);
        await sleep(500);
        if (!ctx.platformAlive()) return defect('the platform process died');
        if (!(await sipAnswers(ctx))) return defect('the SIP driver stopped answering');
        return refused('process up, SIP still answers');
      } finally {
        await peer.close();
      }
    },
  };
}

const bare = (peer: UdpPeer, sipPort: number, method: string, extra: string[] = [], body = ''): string =>
  [
    `${method} sip:95105@${LOOPBACK}:${sipPort} SIP/2.0`,
    `Via: SIP/2.0/UDP ${LOOPBACK}:${peer.port};branch=z9hG4bK${randomBytes(6).toString('hex')}`,
    `From: <sip:x@${LOOPBACK}>;tag=1`,
    `To: <sip:95105@${LOOPBACK}>`,
    `Call-ID: attack-${randomBytes(6).toString('hex')}`,
    `CSeq: 1 ${method}`,
    ...extra,
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');

export const sipAttacks: Attack[] = [
  hostileOffer(
    'sip.sdp-port-zero',
    'INVITE whose SDP says m=audio 0: must be 488, not a crash',
    () => sdpOffer({ port: 0 }),
    {
      severity: 'critical',
      reported: 1,
    },
  ),
  hostileOffer(
    'sip.sdp-address-invalid',
    'INVITE with c=IN IP4 999.1.1.1: must be 488 (today a DNS lookup every 20 ms)',
    () => sdpOffer({ address: '999.1.1.1' }),
    { severity: 'critical', reported: 1 },
  ),
  hostileOffer(
    'sip.sdp-address-broadcast',
    'INVITE with c=IN IP4 255.255.255.255: RTP to broadcast must be refused (488)',
    () => sdpOffer({ address: '255.255.255.255' }),
  ),
  hostileOffer(
    'sip.sdp-address-multicast',
    'INVITE with c=IN IP4 224.0.0.1: RTP to multicast must be refused (488)',
    () => sdpOffer({ address: '224.0.0.1' }),
  ),
  hostileOffer(
    'sip.sdp-address-unspecified',
    'INVITE with c=IN IP4 0.0.0.0: no destination, must be refused (488)',
    () => sdpOffer({ address: '0.0.0.0' }),
  ),
  hostileOffer('sip.sdp-port-too-large', 'INVITE with m=audio 70000: must be 488', () => sdpOffer({ port: 70000 }), {
    severity: 'medium',
  }),
  hostileOffer(
    'sip.sdp-port-privileged',
    'INVITE with m=audio 7 (echo service): RTP to a well-known port must be refused (488)',
    () => sdpOffer({ port: 7 }),
    { severity: 'medium' },
  ),
  hostileOffer(
    'sip.sdp-no-codec',
    'INVITE offering only payload type 18 (G.729): must be 488',
    () => sdpOffer({ media: 'm=audio 40000 RTP/AVP 18' }),
    { severity: 'low' },
  ),
  hostileOffer('sip.sdp-empty', 'INVITE with an empty body: must be 4xx', () => '', { severity: 'low' }),
  survives('sip.garbage', '2 000 bytes of random data in one datagram', () => [randomBytes(2_000)]),
  survives('sip.oversize', 'a 60 000-byte datagram', () => [Buffer.alloc(60_000, 0x41)]),
  survives('sip.header-bomb', 'an INVITE with 5 000 Via headers', (ctx, peer) => [
    bare(
      peer,
      ctx.ports.sip,
      'INVITE',
      Array.from({ length: 5_000 }, (_, i) => `Via: SIP/2.0/UDP 10.0.0.${i % 250}:5060;branch=z9hG4bK${i}`),
    ),
  ]),
  survives('sip.content-length-lie', 'an INVITE announcing Content-Length 99999 with a short body', (ctx, peer) => [
    invite(peer, ctx.ports.sip, { contentLength: 99_999 }).text,
  ]),
  survives('sip.content-length-negative', 'an INVITE announcing Content-Length -5', (ctx, peer) => [
    invite(peer, ctx.ports.sip, { contentLength: -5 }).text,
  ]),
  survives('sip.cseq-overflow', 'an INVITE with CSeq 99999999999999999999', (ctx, peer) => [
    invite(peer, ctx.ports.sip).text.replace('CSeq: 1 INVITE', 'CSeq: 99999999999999999999 INVITE'),
  ]),
  survives('sip.nul-bytes', 'an INVITE with NUL bytes and invalid UTF-8 in headers', (ctx, peer) => [
    Buffer.concat([
      Buffer.from(invite(peer, ctx.ports.sip).text.slice(0, 40)),
      Buffer.from([0, 0xff, 0xfe, 0xc3, 0x28, 0]),
      Buffer.from(invite(peer, ctx.ports.sip).text.slice(40)),
    ]),
  ]),
  survives('sip.unknown-dialog', 'BYE, CANCEL and ACK for dialogs that do not exist', (ctx, peer) => [
    bare(peer, ctx.ports.sip, 'BYE'),
    bare(peer, ctx.ports.sip, 'CANCEL'),
    bare(peer, ctx.ports.sip, 'ACK'),
  ]),
  survives('sip.response-to-server', 'unsolicited SIP responses (200 OK, 180) sent to the server', () => [
    'SIP/2.0 200 OK\r\nCall-ID: nothing\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n',
    'SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n',
  ]),
  survives(
    'sip.caller-id-hostile',
    'an INVITE whose From carries a 2 000-character non-numeric caller',
    (ctx, peer) => [
      invite(peer, ctx.ports.sip, { from: `From: "${'A'.repeat(2000)}" <sip:${'%00'.repeat(500)}@h>;tag=1` }).text,
    ],
  ),
  survives('sip.options-flood', '3 000 OPTIONS in a burst', (ctx, peer) =>
    Array.from({ length: 3_000 }, () => bare(peer, ctx.ports.sip, 'OPTIONS')),
  ),
  {
    id: 'sip.spoofed-bye',
    target: 'sip',
    severity: 'high',
    title: "BYE from a third party that knows a call's Call-ID and From tag but not our To tag: the call stays up",
    quick: true,
    timeoutMs: 15_000,
    async run(ctx): Promise<Verdict> {
      const [caller, attacker] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
      try {
        const r = await sendInvite(caller, ctx.ports.sip, {}, 5_000);
        if (r.response === undefined || r.status !== 200)
          return refused(`no call to attack (${r.status ?? 'nothing'})`);
        await ack(caller, ctx.ports.sip, r.response);
        const toWithoutTag = (header(r.response, 'To') ?? '').replace(/;\s*tag=[^;]*/i, '');
        const spoof = inDialog(attacker, ctx.ports.sip, r.response, 'BYE', 2).replace(
          /^To: .*$/m,
          `To: ${toWithoutTag}`,
        );
        await attacker.send(spoof, ctx.ports.sip);
        const answer = await attacker.waitFor((t) => t.startsWith('SIP/2.0') && t.includes(r.callId), 2_000);
        // The caller's own BYE tells whether the call was still up: 200 if it was, 481 if not.
        await caller.send(inDialog(caller, ctx.ports.sip, r.response, 'BYE', 3), ctx.ports.sip);
        const own = await caller.waitFor((t) => t.includes(r.callId) && / 3 BYE/.test(t), 3_000);
        if (statusOf(answer) === 200 || statusOf(own) === 481)
          return defect(`the spoofed BYE ended the call (answered ${statusOf(answer) ?? 'nothing'})`);
        return refused(
          `spoofed BYE answered ${statusOf(answer) ?? 'nothing'}; the caller's BYE ${statusOf(own) ?? 'unanswered'}`,
        );
      } finally {
        await Promise.all([caller.close(), attacker.close()]);
      }
    },
  },
  {
    id: 'sip.via-reflection',
    target: 'sip',
    severity: 'medium',
    title: 'INVITE whose Via names a third party: answers must go to the source, not be reflected',
    quick: true,
    timeoutMs: 10_000,
    async run(ctx): Promise<Verdict> {
      const [peer, victim] = await Promise.all([UdpPeer.open(), UdpPeer.open()]);
      try {
        const r = await sendInvite(
          peer,
          ctx.ports.sip,
          { via: `Via: SIP/2.0/UDP ${LOOPBACK}:${victim.port};branch=z9hG4bK${randomBytes(6).toString('hex')}` },
          2_000,
        );
        const reflected = await victim.waitFor((t) => t.startsWith('SIP/2.0'), 1_000);
        if (r.response !== undefined && r.status === 200) await hangUp(peer, ctx.ports.sip, r.response);
        if (reflected !== undefined) {
          const toVictim = await victim.waitFor((t) => t.startsWith('SIP/2.0 200'), 500);
          if (toVictim !== undefined) await hangUp(victim, ctx.ports.sip, toVictim).catch(() => undefined);
          return defect(`the answer (${statusOf(reflected)}) went to the Via address, not to the sender`);
        }
        return refused(`answered the sender (${r.status ?? 'nothing'})`);
      } finally {
        await Promise.all([peer.close(), victim.close()]);
      }
    },
  },
  {
    id: 'sip.invite-flood-no-ack',
    target: 'sip',
    severity: 'medium',
    reported: 8,
    title: '200 INVITEs in 2 s from one source, never ACKed: per-source rate limit must refuse most of them',
    timeoutMs: 30_000,
    async run(ctx): Promise<Verdict> {
      const peer = await UdpPeer.open();
      const answered: string[] = [];
      try {
        const ids: string[] = [];
        for (let i = 0; i < 200; i++) {
          const { text, callId } = invite(peer, ctx.ports.sip);
          ids.push(callId);
          await peer.send(text, ctx.ports.sip);
          await sleep(10);
        }
        await sleep(2_000);
        const ok = new Map<string, string>();
        for (const { data } of peer.received) {
          const t = data.toString('latin1');
          const id = header(t, 'Call-ID');
          if (id !== undefined && statusOf(t) === 200) ok.set(id, t);
        }
        answered.push(...ok.values());
        if (!ctx.platformAlive()) return defect('the platform process died during the flood');
        if (ok.size >= 150)
          return defect(`${ok.size} of 200 unACKed INVITEs from one source were answered 200 (each holds a line)`);
        return refused(`${ok.size} of 200 answered 200; the rest refused or ignored`);
      } finally {
        for (const r of answered) await hangUp(peer, ctx.ports.sip, r).catch(() => undefined);
        await sleep(300);
        await peer.close();
      }
    },
  },
  {
    id: 'sip.untrusted-source',
    target: 'sip',
    severity: 'medium',
    reported: 8,
    title: 'INVITE without credentials from 127.0.0.2 (not a configured trunk): must be refused (403/401)',
    quick: true,
    timeoutMs: 10_000,
    async run(ctx): Promise<Verdict> {
      let peer: UdpPeer;
      try {
        peer = await UdpPeer.open(0, '127.0.0.2');
      } catch (e) {
        return inconclusive(`cannot bind 127.0.0.2: ${String(e)}`);
      }
      try {
        const text = invite(peer, ctx.ports.sip).text.replaceAll(`${LOOPBACK}:${peer.port}`, `127.0.0.2:${peer.port}`);
        await peer.send(text, ctx.ports.sip);
        const response = await peer.waitFor((t) => (statusOf(t) ?? 0) >= 200, 3_000);
        const status = statusOf(response);
        if (status === 200 && response !== undefined) {
          await hangUp(peer, ctx.ports.sip, response);
          return defect('an unauthenticated INVITE from an address outside the trunks was answered 200');
        }
        return refused(`answered ${status ?? 'nothing'}`);
      } finally {
        await peer.close();
      }
    },
  },
  {
    id: 'rtp.foreign-source-injection',
    target: 'rtp',
    severity: 'medium',
    reported: 8,
    title: 'loud RTP from a foreign port into a live SIP call while it buys: the purchase must still be approved',
    timeoutMs: 90_000,
    async run(ctx): Promise<Verdict> {
      const pids = ctx.platformPids();
      const before = udpPortsOf(pids);
      const injector = await UdpPeer.open();
      const state = { injecting: true };
      let packets = 0;
      const targets = new Set<number>();
      const noise = Buffer.alloc(160);
      const loop = (async () => {
        let seq = 0;
        while (state.injecting) {
          for (const p of udpPortsOf(ctx.platformPids())) if (!before.has(p)) targets.add(p);
          for (const port of targets) {
            for (let i = 0; i < noise.length; i++) noise[i] = Math.random() < 0.5 ? 0x00 : 0x80; // full-scale square
            for (let k = 0; k < 4; k++) {
              seq = (seq + 1) & 0xffff;
              await injector.send(
                buildRtp({
                  payloadType: 0,
                  sequenceNumber: seq,
                  timestamp: seq * 160,
                  ssrc: 0x1badb002,
                  marker: false,
                  payload: noise,
                }),
                port,
              );
              packets++;
            }
          }
          await sleep(10);
        }
      })();
      try {
        const [signOn, result] = await ctx.script(ctx.terminal({ transport: 'sip' }), [
          { step: 'sign-on' },
          { step: 'purchase', amountMinor: 100 },
          { step: 'hang-up' },
        ]);
        state.injecting = false;
        await loop;
        if (targets.size === 0) return inconclusive('found no RTP port of the call to inject into');
        const show = (t: typeof result): string =>
          `${t?.outcome ?? 'none'} ${t?.failure?.codeName ?? t?.responseCode ?? ''}`.trim();
        if (result?.outcome !== 'approved')
          return defect(
            `${packets} foreign RTP packets hit the SIP call: sign-on ${show(signOn)}, purchase ${show(result)}`,
          );
        return refused(`purchase approved despite ${packets} foreign RTP packets`);
      } finally {
        state.injecting = false;
        await loop.catch(() => undefined);
        await injector.close();
      }
    },
  },
];
