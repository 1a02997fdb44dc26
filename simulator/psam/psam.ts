/**
 * PSAM emulator for the terminal simulator: what the secure card in a POS phone does
 * (payments.md §3.1–3.2). It holds its serial, the 6-byte terminal number written at issuance,
 * its diversified key (MK diversified by the serial, written at issuance) and a transaction
 * counter; it answers GET CHALLENGE with random numbers and MACs each transaction with a fresh
 * session key derived from its random number and counter ("one key per transaction").
 *
 * The clear diversified key lives here because this is the card; the host only ever sees it
 * through the HSM (`verifyPsamMac`). Randomness is injectable so scenarios are deterministic.
 */
import { randomBytes } from 'node:crypto';
import { blockCipher } from '../../hsm/crypto/block-cipher';
import { equalBytes, fromHex, toHex } from '../../hsm/crypto/bytes';
import { cmac, macAlgorithm1, macAlgorithm3, unionPayEcbMac } from '../../hsm/crypto/mac';
import { pbocDiversify, pbocSessionKey, PBOC_COUNTER_MAX } from '../../hsm/crypto/pboc';
import type { MacAlgorithm } from '../../hsm/port';

export interface PsamIssue {
  /** 8-byte PSAM serial (the diversification factor), hex. */
  readonly serial: string;
  /** 6-byte terminal number (终端机编号), hex. */
  readonly terminalNumber: string;
  /** Counter of the last transaction (0 for a new card). */
  readonly counter?: number;
  /** Random source, e.g. a seeded generator in simulations. */
  readonly random?: (bytes: number) => Buffer;
}

/** One transaction's session: the PSAM's random number, its counter, and MACs under the session key. */
export interface PsamTransaction {
  readonly random: Buffer;
  readonly counter: number;
  mac(data: Uint8Array, algorithm?: MacAlgorithm): Buffer;
  /** Checks the host's response MAC under the same session key. */
  verify(data: Uint8Array, mac: Uint8Array, algorithm?: MacAlgorithm): boolean;
}

export class PsamEmulator {
  readonly serial: Buffer;
  readonly terminalNumber: Buffer;
  private counterValue: number;
  private readonly random: (bytes: number) => Buffer;

  /** Issues a PSAM: diversifies the master key by the serial, as the issuer's personalisation does. */
  static issue(masterKeyHex: string, issue: PsamIssue): PsamEmulator {
    const dk = pbocDiversify(fromHex(masterKeyHex), fromHex(issue.serial));
    return new PsamEmulator(dk, issue);
  }

  constructor(
    private readonly diversifiedKey: Buffer,
    issue: PsamIssue,
  ) {
    this.serial = fromHex(issue.serial);
    this.terminalNumber = fromHex(issue.terminalNumber);
    if (this.serial.length !== 8) throw new RangeError('the PSAM serial is 8 bytes');
    if (this.terminalNumber.length !== 6) throw new RangeError('the terminal number is 6 bytes');
    this.counterValue = issue.counter ?? 0;
    this.random = issue.random ?? randomBytes;
  }

  /** Counter of the last transaction. */
  get counter(): number {
    return this.counterValue;
  }

  /** GET CHALLENGE (`00 84`): `length` random bytes. */
  getChallenge(length = 4): Buffer {
    return this.random(length);
  }

  /** READ BINARY of the terminal number file. */
  readTerminalNumber(): string {
    return toHex(this.terminalNumber);
  }

  /**
   * Starts a transaction: a new random number, the counter incremented, the session key derived.
   * Throws `RangeError` when the counter is exhausted (the PSAM must be replaced).
   */
  beginTransaction(): PsamTransaction {
    if (this.counterValue >= PBOC_COUNTER_MAX) throw new RangeError('PSAM counter exhausted');
    this.counterValue += 1;
    const random = this.getChallenge(4);
    const counter = this.counterValue;
    const session = blockCipher('des', pbocSessionKey(this.diversifiedKey, random, counter));
    const mac = (data: Uint8Array, algorithm: MacAlgorithm = 'unionpay-ecb'): Buffer => {
      if (algorithm === 'unionpay-ecb') return unionPayEcbMac(session, data);
      if (algorithm === 'x9.19') return macAlgorithm3(session, session, data);
      if (algorithm === 'iso9797-1-alg1') return macAlgorithm1(session, data);
      return cmac(session, data);
    };
    return {
      random,
      counter,
      mac,
      verify: (data, received, algorithm) => equalBytes(mac(data, algorithm).subarray(0, received.length), received),
    };
  }
}
