/**
 * Issue #10 defect 4: the card network link carries MACs both ways. A tampering proxy on real TCP
 * between the gateway and the bank simulator rewrites messages in flight; the MAC (ANSI X9.19
 * under the ZAK, field 64/128) must turn every rewrite into "no answer" or a refusal, never into
 * money moving that the other side did not agree to.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { randomBytes } from 'node:crypto';
import { isFixpayError } from '../../domain/errors';
import { SoftwareHsm } from '../../hsm/software/software-hsm';
import { connectGateway, purchase, startBank, waitFor } from '../../simulator/bank/harness';
import type { IsoMessage } from '../iso8583';
import { MessageCodec, networkSpec, textField } from '../iso8583';
import { encodeFrame, FrameDecoder } from './framing';
import type { CardNetworkGateway } from './gateway';
import { InMemoryRequestJournal } from './journal';
import { hsmMessageAuthenticator } from './mac';
import { InMemoryReversalQueue } from './reversal-queue';

type Rewrite = (msg: IsoMessage) => IsoMessage | undefined;

/** A man in the middle: decodes each frame, lets `rewrite` change it (MAC bytes untouched), re-frames it. */
class TamperingProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly codec = new MessageCodec(networkSpec);
  tampered = 0;

  constructor(
    private readonly upstreamPort: number,
    private readonly toBank: Rewrite,
    private readonly toGateway: Rewrite,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const upstream = connect(this.upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    this.pipe(client, upstream, this.toBank);
    this.pipe(upstream, client, this.toGateway);
  }

  private pipe(from: Socket, to: Socket, rewrite: Rewrite): void {
    const decoder = new FrameDecoder({ lengthPrefix: 'ascii4' });
    from.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk)) {
        const decoded = this.codec.tryUnpack(frame);
        const changed = decoded.ok ? rewrite(decoded.message) : undefined;
        if (changed === undefined) {
          to.write(encodeFrame(frame, { lengthPrefix: 'ascii4' }));
          continue;
        }
        this.tampered++;
        to.write(encodeFrame(this.codec.pack(changed), { lengthPrefix: 'ascii4' }));
      }
    });
  }
}

function withField(msg: IsoMessage, id: number, value: string): IsoMessage {
  const fields = new Map(msg.fields);
  fields.set(id, value);
  return { mti: msg.mti, fields };
}

const POOR = '6225880000000019'; // debit, 500.00 available

describe('card network MAC against a tampering proxy (issue #10 defect 4)', () => {
  let sim: Awaited<ReturnType<typeof startBank>>;
  let proxy: TamperingProxy;
  let gateway: CardNetworkGateway;
  let reversals: InMemoryReversalQueue;

  async function start(toBank: Rewrite, toGateway: Rewrite, authenticator?: Parameters<typeof connectGateway>[4]) {
    sim = await startBank();
    proxy = new TamperingProxy(sim.port, toBank, toGateway);
    reversals = new InMemoryReversalQueue();
    gateway = connectGateway(
      await proxy.listen(),
      { reversals, journal: new InMemoryRequestJournal() },
      {},
      undefined,
      authenticator,
    );
  }

  afterEach(async () => {
    await gateway.stop();
    await proxy.close();
    await sim.server.close();
  });

  it('an answer rewritten 51 → 00 is no answer: no approval, the reversal goes out, nothing is charged', async () => {
    await start(
      () => undefined,
      (msg) => (msg.mti === '0210' && textField(msg, 39) === '51' ? withField(msg, 39, '00') : undefined),
    );
    await waitFor(() => gateway.isSignedOn);
    const before = sim.bank.account(POOR)?.balanceMinor;
    const req = purchase({ pan: POOR, amountMinor: 90_000 }); // 900.00 > 500.00: the bank says 51

    const outcome = await gateway.authorize(req).then(
      (o) => o,
      (e: unknown) => e,
    );

    expect(proxy.tampered).toBe(1);
    expect(isFixpayError(outcome, 'CARD_NETWORK_NO_RESPONSE')).toBe(true);
    expect(gateway.mux.unmatched.map((u) => u.reason)).toContain('bad-mac');
    // The timeout took the reversal path: a 0400 reached the bank and was acknowledged.
    await waitFor(async () => (await reversals.get(req.idempotencyKey))?.status === 'done');
    expect(sim.bank.stats.reversalMessages).toBeGreaterThanOrEqual(1);
    expect(sim.bank.account(POOR)?.balanceMinor).toBe(before);
    expect(sim.bank.settlementRecords()).toEqual([]);
    // A repeat of the activity replays the failure; it never turns into an approval.
    await expect(gateway.authorize(req)).rejects.toMatchObject({ codeName: 'CARD_NETWORK_NO_RESPONSE' });
  });

  it('a request rewritten on its way (amount 10.00 → 900.00) is refused with A0 and moves nothing', async () => {
    await start(
      (msg) => (msg.mti === '0200' ? withField(msg, 4, '000000090000') : undefined),
      () => undefined,
    );
    await waitFor(() => gateway.isSignedOn);
    const before = sim.bank.account(POOR)?.balanceMinor;

    const outcome = await gateway.authorize(purchase({ pan: POOR, amountMinor: 1_000 }));

    expect(outcome).toMatchObject({ approved: false, responseCode: 'A0', resultName: 'CARD_NETWORK_MAC_REFUSED' });
    expect(sim.server.badMacRequests).toBe(1);
    expect(sim.bank.account(POOR)?.balanceMinor).toBe(before);
    expect(sim.bank.settlementRecords()).toEqual([]);
  });

  it('a gateway with another ZAK is refused by the bank and refuses the bank: it never signs on', async () => {
    const hsm = new SoftwareHsm({ lmk: randomBytes(32) });
    const otherZak = hsm.importClearKey('ZAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle;
    await start(
      () => undefined,
      () => undefined,
      hsmMessageAuthenticator(hsm, otherZak),
    );
    await waitFor(() => sim.server.badMacRequests >= 1);
    await waitFor(() => gateway.mux.unmatched.some((u) => u.reason === 'bad-mac'));
    expect(gateway.isSignedOn).toBe(false);
    expect(sim.bank.stats.signOns).toBe(0);
  });
});
