/**
 * `npm run bench:iso8583`: pack + unpack messages per second on one core for a typical 0200, on
 * the terminal spec (BCD, TLV field 55, sub-fields) and the network spec (ASCII), each with a
 * ratio against a same-run baseline: JSON.stringify + JSON.parse of the same field values.
 * Then the round-trip latency (p50/p99) of purchases through the gateway and the bank simulator
 * over TCP on 127.0.0.1.
 *
 * Goal (issue 6): ≥ 200,000 pack+unpack per second per core. jPOS published ≈ 16,600 (2010).
 * Options: `npm run bench:iso8583 -- --ms=2000 --round-trips=2000`.
 *
 * The cores are shared, so each figure is measured in short rounds interleaved with its baseline
 * (baseline, pack, unpack, pack+unpack, baseline, …) and reported as the median over the rounds,
 * in CPU time; ratios are medians of the per-round ratios, so a load swing hits both sides alike.
 */
import { CardNetworkGateway } from '../gateways/card-network/gateway';
import { TcpChannel } from '../gateways/card-network/channel';
import { InMemoryRequestJournal } from '../gateways/card-network/journal';
import { InMemoryReversalQueue } from '../gateways/card-network/reversal-queue';
import { NetworkMac } from '../gateways/card-network/mac';
import type { IsoMessage } from '../gateways/iso8583';
import { isoMessage, MessageCodec, networkSpec, terminalSpec } from '../gateways/iso8583';
import { defaultAccounts, SIM_ZPK_HEX } from '../simulator/bank/accounts';
import { Bank } from '../simulator/bank/bank';
import { encryptPinBlock } from '../simulator/bank/pin';
import { BankServer } from '../simulator/bank/server';
import { simulatorAuthenticator, ZAK } from '../simulator/bank/harness';

const arg = (name: string, fallback: number): number =>
  Number(
    new RegExp(`^--${name}=(\\d+)$`).exec(process.argv.find((a) => a.startsWith(`--${name}=`)) ?? '')?.[1] ?? fallback,
  );
const DURATION_MS = arg('ms', 1500);
const ROUND_TRIPS = arg('round-trips', 2000);
/** Length of one measuring round of one figure. */
const ROUND_MS = 50;
/** Issue 6's goal for a typical 0200, pack + unpack per second per core. */
const GOAL_PER_SECOND = 200_000;
/** jPOS's published figure for pack + unpack (2010), the anchor of issue 6. */
const JPOS_PER_SECOND = 16_600;

interface Rate {
  /** Messages per wall-clock second on this thread (median of the rounds). */
  readonly perSecond: number;
  /** Messages per CPU-second of this process (median of the rounds): steadier when other processes share the cores. */
  readonly perCpuSecond: number;
  /** Median over the rounds of this figure's CPU rate divided by the baseline's in the same round. */
  readonly ratio?: number;
  readonly rounds: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

/** One round of `op` for about `ms`: wall and CPU rates. */
function round(op: () => unknown, ms: number): { wall: number; cpu: number } {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(ms * 1e6));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) op();
    n += 100;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpu0);
  return { wall: n / (Number(now - start) / 1e9), cpu: n / ((cpu.user + cpu.system) / 1e6) };
}

/**
 * Measures `baseline` and each of `ops` in interleaved rounds of ROUND_MS, after a warm-up round
 * each; every op gets about DURATION_MS in total.
 */
function measureInterleaved(baseline: () => unknown, ops: readonly (() => unknown)[]): { baseline: Rate; ops: Rate[] } {
  const all = [baseline, ...ops];
  for (const op of all) round(op, ROUND_MS);
  const rounds = Math.max(3, Math.round(DURATION_MS / ROUND_MS));
  const samples = all.map(() => ({ wall: [] as number[], cpu: [] as number[], ratio: [] as number[] }));
  for (let r = 0; r < rounds; r++) {
    let baseCpu = NaN;
    all.forEach((op, i) => {
      const { wall, cpu } = round(op, ROUND_MS);
      const s = samples[i];
      if (s === undefined) return;
      if (i === 0) baseCpu = cpu;
      s.wall.push(wall);
      s.cpu.push(cpu);
      s.ratio.push(cpu / baseCpu);
    });
  }
  const rates = samples.map((s, i): Rate => ({
    perSecond: median(s.wall),
    perCpuSecond: median(s.cpu),
    ...(i === 0 ? {} : { ratio: median(s.ratio) }),
    rounds,
  }));
  const [base, ...rest] = rates;
  if (base === undefined) throw new Error('no baseline measured');
  return { baseline: base, ops: rest };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(10);

function line(name: string, rate: Rate, baselineName?: string): void {
  const ratio = rate.ratio === undefined ? '' : `  ratio ${rate.ratio.toFixed(3)} × ${baselineName ?? 'baseline'}`;
  console.log(
    `${name.padEnd(48)} ${fmt(rate.perSecond)} msg/s/core (wall) ${fmt(rate.perCpuSecond)} msg/CPU-s${ratio}`,
  );
}

/** The line issue 6 asks for: the figure against the goal, the jPOS anchor and the same-run baseline. */
function summary(name: string, rate: Rate, baselineName: string): void {
  const verdict = rate.perCpuSecond >= GOAL_PER_SECOND ? 'goal met' : 'goal NOT met';
  console.log(
    `SUMMARY ${name} pack+unpack: ${Math.round(rate.perCpuSecond).toLocaleString('en-US')} msg/CPU-s ` +
      `(median of ${rate.rounds} rounds) = ${((100 * rate.perCpuSecond) / GOAL_PER_SECOND).toFixed(0)}% of the ` +
      `${GOAL_PER_SECOND.toLocaleString('en-US')} goal (${verdict}); ${(rate.perCpuSecond / JPOS_PER_SECOND).toFixed(1)}× ` +
      `jPOS's published ${JPOS_PER_SECOND.toLocaleString('en-US')}; ${(rate.ratio ?? NaN).toFixed(3)}× ${baselineName} in the same run`,
  );
}

const PAN = '6225880000000001';

/** A typical terminal 0200 purchase with chip data (test card). */
function terminal0200(): IsoMessage {
  return isoMessage('0200', {
    2: PAN,
    3: '000000',
    4: '000000012345',
    11: '000123',
    14: '3012',
    22: '051',
    23: '001',
    25: '00',
    26: '12',
    35: `${PAN}=30122010000000000`,
    41: 'TERM0001',
    42: 'MERCHANT0000001',
    49: '156',
    52: Buffer.from('0123456789ABCDEF', 'hex'),
    53: '2600000000000000',
    55: [
      { tag: '9F26', value: Buffer.alloc(8, 0x11) },
      { tag: '9F27', value: Buffer.from([0x80]) },
      { tag: '9F10', value: Buffer.alloc(32, 0x22) },
      { tag: '9F37', value: Buffer.alloc(4, 0x33) },
      { tag: '9F36', value: Buffer.from([0, 1]) },
      { tag: '95', value: Buffer.alloc(5) },
      { tag: '9A', value: Buffer.from([0x26, 0x11, 0x26]) },
      { tag: '9C', value: Buffer.from([0]) },
      { tag: '9F02', value: Buffer.from('000000012345', 'hex') },
      { tag: '5F2A', value: Buffer.from([0x01, 0x56]) },
    ],
    60: { '1': '22', '2': '000001', '3': '000', '4': '5', '5': '0' },
    63: { '1': '001' },
    64: Buffer.alloc(8, 0x44),
  });
}

function network0200(): IsoMessage {
  return isoMessage('0200', {
    2: PAN,
    3: '000000',
    4: '000000012345',
    7: '1126103000',
    11: '000123',
    12: '103000',
    13: '1126',
    22: '051',
    25: '00',
    26: '12',
    32: '1234',
    33: '5678',
    35: `${PAN}=30122010000000000`,
    41: 'TERM0001',
    42: 'MERCHANT0000001',
    49: '156',
    52: Buffer.from('0123456789ABCDEF', 'hex'),
    53: '2600000000000000',
    60: { '1': '22', '2': '000001' },
  });
}

/** The same field values as plain JSON (bytes as hex), for the baseline. */
function asJson(msg: IsoMessage): Record<string, unknown> {
  const out: Record<string, unknown> = { mti: msg.mti };
  const hex = (v: Uint8Array): string => Buffer.from(v).toString('hex');
  for (const [id, v] of msg.fields) {
    out[id] =
      v instanceof Uint8Array
        ? hex(v)
        : Array.isArray(v)
          ? (v as { tag: string; value: Uint8Array }[]).map((t) => [t.tag, hex(t.value)])
          : v;
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function roundTrips(): Promise<void> {
  const zpk = Buffer.from(SIM_ZPK_HEX, 'hex');
  const accounts = defaultAccounts().map((a) => ({ ...a, balanceMinor: 1e12, perTransactionLimitMinor: 1e9 }));
  const server = new BankServer(new Bank({ zpk, accounts }), { zak: ZAK });
  const { port } = await server.listen();
  const codec = new MessageCodec(networkSpec);
  const transport = new TcpChannel({
    host: '127.0.0.1',
    port,
    codec,
    framing: { lengthPrefix: 'ascii4' },
  });
  const gateway = new CardNetworkGateway(
    {
      transport,
      mac: new NetworkMac(codec, simulatorAuthenticator()),
      reversals: new InMemoryReversalQueue(),
      journal: new InMemoryRequestJournal(),
    },
    { acquirerId: '1234', forwardingId: '5678', echoIntervalMs: 0 },
  );
  gateway.start();
  while (!gateway.isSignedOn) await new Promise((r) => setTimeout(r, 5));
  const pinBlock = encryptPinBlock('123456', PAN, zpk).toString('hex');
  const times: number[] = [];
  const started = performance.now();
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const stan = String((i % 999_999) + 1).padStart(6, '0');
    const t0 = performance.now();
    const outcome = await gateway.authorize({
      idempotencyKey: `bench:${i}`,
      terminalId: `T${String(Math.floor(i / 999_999)).padStart(7, '0')}`,
      merchantId: 'MERCHANT0000001',
      stan,
      pan: PAN,
      currency: '156',
      amountMinor: 100,
      pinBlock,
    });
    times.push(performance.now() - t0);
    if (!outcome.approved) throw new Error(`bench purchase declined: ${outcome.responseCode}`);
  }
  const elapsed = performance.now() - started;
  await gateway.stop();
  await server.close();
  times.sort((a, b) => a - b);
  console.log(
    `${'purchase round trip gateway ⇄ simulator (TCP)'.padEnd(48)} p50 ${percentile(times, 50).toFixed(3)} ms  p99 ${percentile(times, 99).toFixed(3)} ms  ` +
      `(${ROUND_TRIPS} sequential, ${Math.round((ROUND_TRIPS / elapsed) * 1000)} tx/s, in-memory stores)`,
  );
}

async function main(): Promise<void> {
  console.log(
    `node ${process.version}, ~${DURATION_MS} ms per figure in ${ROUND_MS} ms rounds interleaved with the baseline; ` +
      'medians; ratios use CPU time',
  );
  const summaries: (() => void)[] = [];
  for (const [name, spec, msg] of [
    ['terminal 0200 (BCD, TLV 55)', terminalSpec, terminal0200()],
    ['network 0200 (ASCII)', networkSpec, network0200()],
  ] as const) {
    const codec = new MessageCodec(spec);
    const bytes = codec.pack(msg);
    const json = asJson(msg);
    const baselineName = 'JSON stringify+parse';
    const { baseline, ops } = measureInterleaved(
      () => JSON.parse(JSON.stringify(json)),
      [() => codec.pack(msg), () => codec.unpack(bytes), () => codec.unpack(codec.pack(msg))],
    );
    const [pack, unpack, both] = ops;
    if (pack === undefined || unpack === undefined || both === undefined) throw new Error('figures missing');
    line(`baseline: ${name} ${baselineName}`, baseline);
    line(`${name} pack (${bytes.length} B)`, pack, baselineName);
    line(`${name} unpack`, unpack, baselineName);
    line(`${name} pack+unpack`, both, baselineName);
    summaries.push(() => summary(name, both, baselineName));
  }
  await roundTrips();
  for (const print of summaries) print();
}

void main();
