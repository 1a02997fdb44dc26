/**
 * `npm run bench:hsm`: operations per second on one core for the software HSM's hot paths, each
 * with a ratio against a baseline measured in the same run (raw `crypto` block operations on a
 * cached cipher context), so machines of different speed can be compared.
 *
 * Goal (issue 5): at least 20,000 MAC verifications per second per core.
 * Options: `npm run bench:hsm -- --ms=2000` (time per figure, default 1000).
 *
 * The last lines put the software HSM behind `fixpay hsm serve` on loopback and compare the two
 * transports (ADR 0009): sequential MAC verifications on one connection (round trips, so mostly
 * latency) and new connections with their whole handshake (TCP + TLS-PSK + X*, or TCP + X*).
 */
import { createCipheriv } from 'node:crypto';
import { blockCipher } from '../hsm/crypto/block-cipher';
import { fromHex } from '../hsm/crypto/bytes';
import { encodePinBlock } from '../hsm/crypto/pin-block';
import { SoftwareHsm } from '../hsm/software/software-hsm';
import { NetworkHsm } from '../hsm/host-protocol/client';
import { startHsmServer } from '../hsm/host-protocol/server';
import type { HsmTransport } from '../hsm/host-protocol/tls-psk';

const DURATION_MS = Number(/^--ms=(\d+)$/.exec(process.argv.find((a) => a.startsWith('--ms=')) ?? '')?.[1] ?? '1000');
const WARMUP_MS = Math.min(200, DURATION_MS / 5);

async function measure(op: () => unknown): Promise<number> {
  const run = async (ms: number): Promise<number> => {
    let n = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(Math.round(ms * 1e6));
    let now = start;
    while (now < end) {
      for (let i = 0; i < 100; i++) {
        const r = op();
        if (r instanceof Promise) await r;
      }
      n += 100;
      now = process.hrtime.bigint();
    }
    return n / (Number(now - start) / 1e9);
  };
  await run(WARMUP_MS);
  const perSecond = await run(DURATION_MS);
  return perSecond;
}

function line(name: string, perSecond: number, baseline?: { name: string; perSecond: number }): void {
  const ratio =
    baseline === undefined ? '' : `  ratio ${(perSecond / baseline.perSecond).toFixed(3)} × ${baseline.name}`;
  console.log(`${name.padEnd(44)} ${Math.round(perSecond).toLocaleString('en-US').padStart(12)} ops/s/core${ratio}`);
}

async function main(): Promise<void> {
  const hsm = new SoftwareHsm({ lmk: fromHex('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F') });
  const tak = hsm.importClearKey('TAK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
  const tpk = hsm.importClearKey('TPK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
  const zpk = hsm.importClearKey('ZPK', 'tdes2', '89ABCDEF01234567FEDCBA9876543210');
  const bdk = hsm.importClearKey('BDK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');
  const bdkAes = hsm.importClearKey('BDK', 'aes128', 'FEDCBA9876543210F1F1F1F1F1F1F1F1');
  const pbocMk = hsm.importClearKey('PBOC_MK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210');

  // A typical terminal message: ~96 bytes of MTI..field 63.
  const message = Buffer.alloc(96, 0x31);
  const mac = await hsm.generateMac({ key: tak.handle, algorithm: 'x9.19', data: message });
  const upMac = await hsm.generateMac({ key: tak.handle, algorithm: 'unionpay-ecb', data: message });
  const pan = '4012345678909';
  const pinBlock = blockCipher('tdes', fromHex('0123456789ABCDEFFEDCBA9876543210')).encrypt(
    encodePinBlock(0, '1234', pan),
  );
  const session = { masterKey: pbocMk.handle, factors: [fromHex('1122334455667788')], random: fromHex('AABBCCDD') };
  const dukptKsn = fromHex('FFFF9876543210EFFC00');
  const dukptMac = await hsm.generateDukptMac({ bdk: bdk.handle, ksn: dukptKsn, direction: 'request', data: message });
  const psamMac = await hsm.generatePsamMac({ ...session, counter: 1, algorithm: 'unionpay-ecb', data: message });

  // Baselines: raw crypto, one 8-byte block on a cached context, and one with a fresh context.
  const rawKey = fromHex('0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF');
  const cached = createCipheriv('des-ede3-ecb', rawKey, null).setAutoPadding(false);
  const block = Buffer.alloc(8);
  const desBlock = { name: 'raw DES block (cached ctx)', perSecond: await measure(() => cached.update(block)) };
  const aesCached = createCipheriv('aes-128-ecb', rawKey.subarray(0, 16), null).setAutoPadding(false);
  const aesBlockIn = Buffer.alloc(16);
  const aesBlock = {
    name: 'raw AES block (cached ctx)',
    perSecond: await measure(() => aesCached.update(aesBlockIn)),
  };
  const freshCtx = {
    name: 'raw TDES new context + block',
    perSecond: await measure(() => createCipheriv('des-ede3-ecb', rawKey, null).setAutoPadding(false).update(block)),
  };
  line(`baseline: ${desBlock.name}`, desBlock.perSecond);
  line(`baseline: ${aesBlock.name}`, aesBlock.perSecond);
  line(`baseline: ${freshCtx.name}`, freshCtx.perSecond);

  const figures: [string, () => unknown, typeof desBlock][] = [
    [
      'MAC generate X9.19 (96 B)',
      () => hsm.generateMac({ key: tak.handle, algorithm: 'x9.19', data: message }),
      desBlock,
    ],
    [
      'MAC verify X9.19 (96 B)',
      () => hsm.verifyMac({ key: tak.handle, algorithm: 'x9.19', data: message, mac }),
      desBlock,
    ],
    [
      'MAC verify UnionPay ECB (96 B)',
      () => hsm.verifyMac({ key: tak.handle, algorithm: 'unionpay-ecb', data: message, mac: upMac }),
      desBlock,
    ],
    [
      'PIN translate TPK→ZPK (fmt 0→0)',
      () =>
        hsm.translatePin({
          source: { key: tpk.handle, format: 0 },
          target: { key: zpk.handle, format: 0 },
          pinBlock,
          pan,
        }),
      desBlock,
    ],
    ['PSAM session-key derivation (PBOC)', () => hsm.derivePsamSessionKey({ ...session, counter: 1 }), freshCtx],
    [
      'PSAM MAC verify (derive + UnionPay MAC)',
      () => hsm.verifyPsamMac({ ...session, counter: 1, algorithm: 'unionpay-ecb', data: message, mac: psamMac }),
      freshCtx,
    ],
    [
      'DUKPT TDES PIN translate → ZPK (KSN …E00001)',
      () =>
        hsm.translateDukptPin({
          bdk: bdk.handle,
          ksn: fromHex('FFFF9876543210E00001'),
          pinBlock: fromHex('1B9C1845EB993A7A'),
          sourceFormat: 0,
          target: { key: zpk.handle, format: 0 },
          pan,
        }),
      freshCtx,
    ],
    [
      'DUKPT TDES MAC verify (KSN with 10 one-bits)',
      () => hsm.verifyDukptMac({ bdk: bdk.handle, ksn: dukptKsn, direction: 'request', data: message, mac: dukptMac }),
      freshCtx,
    ],
    [
      'DUKPT AES-128 MAC generate (KSN …00000003)',
      () =>
        hsm.generateDukptMac({
          bdk: bdkAes.handle,
          ksn: fromHex('123456789012345600000003'),
          direction: 'request',
          data: message,
        }),
      aesBlock,
    ],
  ];
  for (const [name, op, baseline] of figures) line(name, await measure(op), baseline);

  // A prepaid card's HSM work at issuance (ADR 0026), before and with ADR 0034's sealing: three
  // card verification values and a PIN, then also the number under the LMK and the sealed record.
  const cvk = hsm.importClearKey('CVK', 'tdes2', '0123456789ABCDEFFEDCBA9876543210').handle;
  const printerKey = hsm.importClearKey('ZEK', 'tdes2', '1323456789ABCDEF0123456789ABCDEF').handle;
  const bureauKey = hsm.importClearKey(
    'BUREAU',
    'aes256',
    '6B1C4F0A2D8E97355A0C3B1E7F60D2A94C8B17E5F3A20D6C9E418B72D05F3A61',
  ).handle;
  const cardPan = '6299990000000013';
  const record = Buffer.from(
    JSON.stringify({
      cardId: '5b0e4f1e-3c1d-4c55-9d2a-1f0b6a0c8e11',
      pan: cardPan,
      expiry: '2912',
      serviceCode: '120',
      cvv: '123',
      cvv2: '456',
      icvv: '789',
      pinMailer: '0123456789ABCDEF',
    }),
  );
  const aad = Buffer.from('fixpay-bureau/v1|cards|5b0e4f1e-3c1d-4c55-9d2a-1f0b6a0c8e11');
  const cardWork = async (): Promise<void> => {
    for (const sc of ['120', '000', '999'])
      await hsm.generateCardVerificationValue({ cvk, pan: cardPan, expiry: '2912', serviceCode: sc });
    await hsm.generatePin({ pan: cardPan, printerKey });
  };
  const before = { name: 'card issue HSM work before sealing', perSecond: await measure(cardWork) };
  line(before.name, before.perSecond);
  line(
    'seal one bureau record (AES-256-GCM, ~190 B)',
    await measure(() => hsm.sealData({ key: bureauKey, data: record, aad })),
    aesBlock,
  );
  line('card number under the LMK', await measure(() => hsm.encryptPanUnderLmk(cardPan)), aesBlock);
  line(
    'card issue HSM work with sealing',
    await measure(async () => {
      await cardWork();
      await hsm.encryptPanUnderLmk(cardPan);
      await hsm.sealData({ key: bureauKey, data: record, aad });
    }),
    before,
  );

  // The network HSM on loopback, plain against TLS-PSK.
  const client = { id: 'bench', secret: Buffer.alloc(32, 7) };
  const network: Record<string, number> = {};
  for (const transport of ['plain', 'tls-psk'] as HsmTransport[]) {
    const limits = { connectionsMax: 10_000, connectionsPerAddressMax: 10_000, connectionsPerClientMax: 10_000 };
    const server = await startHsmServer({ hsm, port: 0, clients: [client], transport, limits });
    const at = { host: server.host, port: server.port, credentials: client, transport };
    const one = new NetworkHsm(at);
    const verify = await measure(() => one.verifyMac({ key: tak.handle, algorithm: 'x9.19', data: message, mac }));
    one.close();
    const connects = await measure(async () => {
      const c = new NetworkHsm(at);
      await c.echo('x');
      c.close();
    });
    await server.close();
    network[`${transport} verify`] = verify;
    network[`${transport} connect`] = connects;
  }
  const plainVerify = { name: 'plain', perSecond: network['plain verify'] ?? 1 };
  const plainConnect = { name: 'plain', perSecond: network['plain connect'] ?? 1 };
  line('network MAC verify, plain (1 conn, sequential)', network['plain verify'] ?? 0);
  line('network MAC verify, tls-psk (1 conn, seq.)', network['tls-psk verify'] ?? 0, plainVerify);
  line('network connect + handshake + B2, plain', network['plain connect'] ?? 0);
  line('network connect + handshake + B2, tls-psk', network['tls-psk connect'] ?? 0, plainConnect);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
