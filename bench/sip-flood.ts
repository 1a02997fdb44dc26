/**
 * SIP flood measurement (issue 10 defect 8; `npx tsx bench/sip-flood.ts [invitesPerSecond] [seconds]`,
 * default 45/s for 25 s as in the report). A channel engine with the access node's default
 * capacity and admission settings (512 lines, 32 reserved, loopback allowed, 10 INVITE/s burst
 * 20 per source, 8 s ACK timeout) behind a SIP driver on loopback; 127.0.0.1 sends INVITEs and
 * never ACKs; every 5 s a genuine call from the trusted trunk 127.0.0.2 dials and ACKs. Prints the
 * peak of lines taken by the flood, the answers it got, and whether every genuine call got a line.
 */
import dgram from 'node:dgram';
import { ChannelEngine } from '../channel-engine/engine';
import { parseSipMessage } from '../channel-engine/lines/sip/message';
import { SipLineDriver } from '../channel-engine/lines/sip/uas';
import { loadProfiles } from '../channel-engine/profiles';

const RATE = Number(process.argv[2] ?? 45);
const SECONDS = Number(process.argv[3] ?? 25);
const GENUINE_EVERY_MS = 5000;

const offer = (address: string, port: number): string =>
  `v=0\r\no=- 1 1 IN IP4 ${address}\r\ns=-\r\nc=IN IP4 ${address}\r\nt=0 0\r\nm=audio ${port} RTP/AVP 0\r\n`;

function invite(s: dgram.Socket, address: string, method: string, callId: string, body = ''): string {
  const port = s.address().port;
  return (
    `${method} sip:95105@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${address}:${port};branch=z9hG4bK${callId}${method}\r\n` +
    `From: <sip:057100000000@${address}>;tag=f\r\nTo: <sip:95105@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\n` +
    `Contact: <sip:pos@${address}:${port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  );
}

async function socketOn(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  return s;
}

async function main(): Promise<void> {
  const sip = new SipLineDriver({ port: 0, host: '127.0.0.1', trunkSources: ['127.0.0.2/32'] });
  const engine = new ChannelEngine({
    profiles: loadProfiles(),
    handler: (r) => Promise.resolve(r.payload),
    maxLines: 512,
    reservedLines: 32,
  }).addDriver(sip);
  await engine.start();
  const attacker = await socketOn('127.0.0.1');
  const trunk = await socketOn('127.0.0.2');
  // First final answer per flood call (the 200 is retransmitted until the ACK timeout).
  const floodFinal = new Map<string, number>();
  attacker.on('message', (m) => {
    const r = parseSipMessage(m);
    if (!r.ok || r.value.kind !== 'response' || r.value.status < 200) return;
    const callId = r.value.headers.get('call-id') ?? '';
    if (!floodFinal.has(callId)) floodFinal.set(callId, r.value.status);
  });
  const genuine: { callId: string; status: number | undefined }[] = [];
  trunk.on('message', (m) => {
    const r = parseSipMessage(m);
    if (!r.ok || r.value.kind !== 'response' || r.value.status < 200) return;
    const callId = r.value.headers.get('call-id') ?? '';
    const g = genuine.find((x) => x.callId === callId);
    if (g === undefined || g.status !== undefined) return;
    g.status = r.value.status;
    if (g.status === 200) trunk.send(invite(trunk, '127.0.0.2', 'ACK', callId), sip.port, '127.0.0.1');
  });
  let n = 0;
  let peak = 0;
  const flood = setInterval(() => {
    attacker.send(
      invite(attacker, '127.0.0.1', 'INVITE', `flood-${n}`, offer('127.0.0.1', 40000 + 2 * (n % 1000))),
      sip.port,
      '127.0.0.1',
    );
    n++;
  }, 1000 / RATE);
  const sample = setInterval(() => {
    peak = Math.max(peak, engine.metrics().linesActive - genuine.filter((g) => g.status === 200).length);
  }, 50);
  const dialGenuine = setInterval(() => {
    const callId = `genuine-${genuine.length}`;
    genuine.push({ callId, status: undefined });
    trunk.send(
      invite(trunk, '127.0.0.2', 'INVITE', callId, offer('127.0.0.2', 42000 + 2 * genuine.length)),
      sip.port,
      '127.0.0.1',
    );
  }, GENUINE_EVERY_MS);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(flood);
  clearInterval(dialGenuine);
  await new Promise((r) => setTimeout(r, 500));
  clearInterval(sample);
  const m = engine.metrics();
  console.log(
    JSON.stringify({
      flood: { invitesPerSecond: RATE, seconds: SECONDS, sent: n, answers: countBy([...floodFinal.values()]) },
      peakLinesHeldByFlood: peak,
      linesMax: m.linesMax,
      linesReserved: m.linesReserved,
      genuineCalls: genuine.map((g) => g.status ?? 'no answer'),
      driver: {
        invitesRateLimited: m.drivers['sip.invitesRateLimited'],
        ackTimeouts: m.drivers['sip.ackTimeouts'],
      },
    }),
  );
  attacker.close();
  trunk.close();
  await engine.stop();
}

function countBy(values: number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

void main();
