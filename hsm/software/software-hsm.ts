/**
 * The software HSM: the whole HSM port in process, keys under a local master key (LMK) passed in
 * by the caller. Clear keys live only inside this object (and its cipher contexts). Suitable for
 * development, tests and as the engine behind `fixpay hsm`; production PIN handling belongs in a
 * certified HSM (docs/security.md).
 */
import { blockCipher } from '../crypto/block-cipher';
import type { BlockCipher } from '../crypto/block-cipher';
import { equalBytes, fromHex, hasOddParity, toHex, withOddParity, xor } from '../crypto/bytes';
import {
  aesInitialKey,
  aesTransactionKey,
  aesWorkingKey,
  KsnError,
  tdesCurrentKey,
  tdesIpek,
  tdesWorkingKey,
} from '../crypto/dukpt';
import { cmac, macAlgorithm1, macAlgorithm3, unionPayEcbMac } from '../crypto/mac';
import { pbocDiversifyLevels, pbocSessionKey, PBOC_COUNTER_MAX } from '../crypto/pboc';
import { decipherFormat4, decodePinBlock, encipherFormat4, encodePinBlock, PinBlockError } from '../crypto/pin-block';
import { KeyBlockError, unwrapKeyBlock, wrapKeyBlock } from '../crypto/tr31';
import { FixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { maskDeep } from '../../domain/masking';
import { HSM_DEFAULTS } from '../port';
import type {
  DukptMacRequest,
  ExportKeyRequest,
  GeneratedKey,
  GenerateKeyRequest,
  HsmDiagnostics,
  HsmPort,
  ImportKeyRequest,
  KeyAlgorithm,
  KeyHandle,
  KeyInfo,
  KeyType,
  LmkPin,
  MacRequest,
  PinBlockFormat,
  PinKeyAndFormat,
  PsamMacRequest,
  PsamSessionRequest,
  TranslateDukptPinRequest,
  TranslatePinRequest,
  VerifyMacRequest,
  VerifyPinRequest,
  VerifyPsamMacRequest,
} from '../port';
import { ALGORITHM_SPECS, algorithmOf, LmkKeyStore, TYPE_USAGE } from './key-store';
import type { LoadedKey } from './key-store';

export const SOFTWARE_HSM_FIRMWARE = 'fixpay-soft-1.0';

export interface SoftwareHsmOptions {
  /** The LMK: 32 bytes (AES-256), from a protected file or the environment, via the config module. */
  readonly lmk: Uint8Array;
  readonly keyCacheEntriesMax?: number;
  readonly macDataBytesMax?: number;
}

/** Which KEK types may wrap which key types (one purpose per key). */
const WRAPS: Partial<Record<KeyType, readonly KeyType[]>> = {
  TMK: ['TPK', 'TAK', 'TDK', 'TMK'],
  ZMK: ['ZMK', 'TMK', 'KBPK', 'ZPK', 'ZAK', 'ZEK', 'BDK', 'PBOC_MK'],
  KBPK: ['ZMK', 'TMK', 'KBPK', 'ZPK', 'TPK', 'ZAK', 'TAK', 'ZEK', 'TDK', 'BDK', 'PBOC_MK'],
};
const MAC_KEY_TYPES: readonly KeyType[] = ['TAK', 'ZAK', 'PSAM_SESSION'];
const PIN_SOURCE_TYPES: readonly KeyType[] = ['TPK', 'ZPK'];
const PIN_TARGET_TYPES: readonly KeyType[] = ['ZPK', 'TPK'];
/** TR-31 usage → default key type when importing a block that does not say. */
const USAGE_DEFAULT_TYPE: Record<string, KeyType> = {
  K0: 'ZMK',
  K1: 'KBPK',
  P0: 'ZPK',
  M3: 'ZAK',
  M1: 'ZAK',
  D0: 'ZEK',
  B0: 'BDK',
  E6: 'PBOC_MK',
};

function fail(name: ResultCodeName, detail?: string): never {
  throw new FixpayError(name, detail);
}

function requireType(key: LoadedKey, allowed: readonly KeyType[], role: string): void {
  if (!allowed.includes(key.type)) fail('HSM_KEY_USAGE_MISMATCH', `a ${key.type} cannot be used as ${role}`);
}

/** Maps errors of the crypto primitives to result codes; rethrows anything else. */
function mapCryptoError(e: unknown): never {
  if (e instanceof FixpayError) throw e;
  if (e instanceof PinBlockError) {
    if (e.reason === 'format') fail('HSM_PIN_FORMAT_UNSUPPORTED');
    if (e.reason === 'pan') fail('HSM_INPUT_INVALID', 'account number');
    if (e.reason === 'pin') fail('HSM_INPUT_INVALID', 'PIN length');
    fail('HSM_PIN_BLOCK_INVALID');
  }
  if (e instanceof KsnError) fail('HSM_KSN_INVALID', e.message);
  if (e instanceof KeyBlockError) fail('HSM_KEY_BLOCK_INVALID', e.message);
  if (e instanceof RangeError || e instanceof TypeError) fail('HSM_INPUT_INVALID', e.message);
  throw e;
}

/** Bounded insert: evicts the oldest entry when full. */
function remember<V>(cache: Map<string, V>, key: string, value: V, max: number): void {
  if (cache.size >= max) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(key, value);
}

function checkDesParity(key: LoadedKey): void {
  if (key.family !== 'aes' && !hasOddParity(key.clear)) fail('HSM_KEY_PARITY');
}

export class SoftwareHsm implements HsmPort {
  private readonly store: LmkKeyStore;
  private readonly macDataBytesMax: number;
  private readonly pinStorage: BlockCipher;
  private readonly cacheMax: number;
  private readonly diversifiedKeys = new Map<string, BlockCipher>();
  private readonly ipeks = new Map<string, Buffer>();

  constructor(options: SoftwareHsmOptions) {
    this.store = new LmkKeyStore(
      options.keyCacheEntriesMax === undefined
        ? { lmk: options.lmk }
        : { lmk: options.lmk, keyCacheEntriesMax: options.keyCacheEntriesMax },
    );
    this.macDataBytesMax = options.macDataBytesMax ?? HSM_DEFAULTS.macDataBytesMax;
    this.pinStorage = blockCipher('aes', this.store.pinStorageKey);
    this.cacheMax = options.keyCacheEntriesMax ?? HSM_DEFAULTS.keyCacheEntriesMax;
  }

  describe(): string {
    return JSON.stringify(maskDeep({ kind: 'software', lmkCheckValue: this.store.lmkCheckValue }));
  }

  diagnostics(): Promise<HsmDiagnostics> {
    return Promise.resolve({ lmkCheckValue: this.store.lmkCheckValue, firmware: SOFTWARE_HSM_FIRMWARE });
  }

  // --- console operations (not on the port): clear material enters, never leaves -------------

  /**
   * Loads a clear key (console / key ceremony / tests with published test keys). DES-family keys
   * must have odd parity. Returns the handle and check value only.
   */
  importClearKey(type: KeyType, algorithm: KeyAlgorithm, clearHex: string): KeyInfo {
    const clear = fromHex(clearHex);
    try {
      const loaded = this.store.store(type, algorithm, clear);
      // A component's parity is not a key's: the formed key is parity-adjusted instead.
      if (type !== 'COMPONENT') checkDesParity(loaded);
      return loaded.info();
    } finally {
      clear.fill(0);
    }
  }

  /** One custodian's clear component, entered at the console; checked against its KCV when given. */
  importClearComponent(algorithm: KeyAlgorithm, clearHex: string, expectedKcv?: string): KeyInfo {
    const info = this.importClearKey('COMPONENT', algorithm, clearHex);
    if (expectedKcv !== undefined && !info.kcv.startsWith(expectedKcv.toUpperCase())) {
      fail('HSM_KEY_CHECK_VALUE_MISMATCH', `component check value is ${info.kcv}`);
    }
    return info;
  }

  // --- keys -----------------------------------------------------------------------------------

  private load(handle: KeyHandle): LoadedKey {
    return this.store.load(handle);
  }

  private wrapForExport(key: LoadedKey, kek: LoadedKey, scheme: 'tr31' | 'ecb'): string {
    if (!key.exportable) fail('HSM_KEY_NOT_EXPORTABLE', key.type);
    const allowed = WRAPS[kek.type];
    if (allowed === undefined) fail('HSM_KEY_USAGE_MISMATCH', `a ${kek.type} cannot wrap keys`);
    if (!allowed.includes(key.type)) fail('HSM_KEY_USAGE_MISMATCH', `a ${kek.type} cannot wrap a ${key.type}`);
    if (scheme === 'ecb') {
      if (kek.family === 'aes' || kek.type === 'KBPK')
        fail('HSM_KEY_USAGE_MISMATCH', 'ECB export needs a TDES TMK or ZMK');
      return toHex(kek.cipher.encrypt(key.clear));
    }
    const usage = TYPE_USAGE[key.type];
    return wrapKeyBlock(
      kek.keyBlockKeys,
      {
        keyUsage: usage.usage,
        algorithm: ALGORITHM_SPECS[key.algorithm].letter,
        modeOfUse: usage.mode,
        keyVersion: '00',
        exportability: 'E',
        optionalBlocks: [],
      },
      key.clear,
    );
  }

  generateKey(request: GenerateKeyRequest): Promise<GeneratedKey> {
    return this.run(() => {
      if (request.type === 'COMPONENT' || request.type === 'PSAM_SESSION') {
        fail('HSM_KEY_USAGE_MISMATCH', `${request.type} keys are not generated directly`);
      }
      const clear = LmkKeyStore.randomKey(request.algorithm);
      const key = this.store.store(request.type, request.algorithm, clear);
      clear.fill(0);
      if (request.exportUnder === undefined) return key.info();
      const kek = this.load(request.exportUnder.kek);
      const exported = this.wrapForExport(key, kek, request.exportUnder.scheme);
      if (request.exportUnder.scheme === 'tr31') return { ...key.info(), exported };
      return { ...key.info(), exported, exportedCheckValue: key.kcv4 };
    });
  }

  formKeyFromComponents(request: {
    readonly type: KeyType;
    readonly algorithm: KeyAlgorithm;
    readonly components: readonly KeyHandle[];
  }): Promise<KeyInfo> {
    return this.run(() => {
      if (request.components.length < 2) fail('HSM_INPUT_INVALID', 'at least two components (split knowledge)');
      const bytes = ALGORITHM_SPECS[request.algorithm].bytes;
      let clear: Buffer = Buffer.alloc(bytes);
      for (const handle of request.components) {
        const component = this.load(handle);
        requireType(component, ['COMPONENT'], 'a key component');
        if (component.clear.length !== bytes) fail('HSM_INPUT_INVALID', 'component length differs from the key');
        clear = xor(clear, component.clear);
      }
      // Forced to odd parity, as HSMs do when forming a DES key from an even number of components.
      const formed = ALGORITHM_SPECS[request.algorithm].family === 'aes' ? clear : withOddParity(clear);
      const key = this.store.store(request.type, request.algorithm, formed);
      clear.fill(0);
      formed.fill(0);
      return key.info();
    });
  }

  describeKey(handle: KeyHandle): Promise<KeyInfo> {
    return this.run(() => this.load(handle).info());
  }

  exportKey(request: ExportKeyRequest): Promise<{ readonly cryptogram: string; readonly kcv: string }> {
    return this.run(() => {
      const key = this.load(request.key);
      const kek = this.load(request.kek);
      return { cryptogram: this.wrapForExport(key, kek, request.scheme), kcv: key.kcv };
    });
  }

  importKey(request: ImportKeyRequest): Promise<KeyInfo> {
    return this.run(() => {
      const kek = this.load(request.kek);
      const allowed = WRAPS[kek.type];
      if (allowed === undefined) fail('HSM_KEY_USAGE_MISMATCH', `a ${kek.type} cannot unwrap keys`);
      let type: KeyType;
      let algorithm: KeyAlgorithm;
      let clear: Buffer;
      if (request.scheme === 'ecb') {
        if (request.type === undefined || request.algorithm === undefined) {
          fail('HSM_INPUT_INVALID', 'ECB import needs the key type and algorithm');
        }
        if (kek.family === 'aes' || kek.type === 'KBPK')
          fail('HSM_KEY_USAGE_MISMATCH', 'ECB import needs a TDES TMK or ZMK');
        type = request.type;
        algorithm = request.algorithm;
        clear = kek.cipher.decrypt(fromHex(request.cryptogram));
        if (clear.length !== ALGORITHM_SPECS[algorithm].bytes) fail('HSM_INPUT_INVALID', 'cryptogram length');
      } else {
        const { header, key } = unwrapKeyBlock(kek.keyBlockKeys, request.cryptogram);
        clear = key;
        const blockAlgorithm = algorithmOf(header.algorithm, key.length);
        if (blockAlgorithm === undefined) fail('HSM_KEY_BLOCK_INVALID', 'unknown algorithm');
        algorithm = request.algorithm ?? blockAlgorithm;
        if (algorithm !== blockAlgorithm) fail('HSM_KEY_USAGE_MISMATCH', 'the key block holds another algorithm');
        const defaultType = USAGE_DEFAULT_TYPE[header.keyUsage];
        if (defaultType === undefined) fail('HSM_KEY_USAGE_MISMATCH', `key usage ${header.keyUsage}`);
        type = request.type ?? defaultType;
        if (TYPE_USAGE[type].usage !== header.keyUsage)
          fail('HSM_KEY_USAGE_MISMATCH', 'the key block has another usage');
      }
      if (!allowed.includes(type)) fail('HSM_KEY_USAGE_MISMATCH', `a ${kek.type} cannot wrap a ${type}`);
      const key = this.store.store(type, algorithm, clear);
      clear.fill(0);
      // Parity is the only integrity check an ECB cryptogram has; a TR-31 block has its CMAC.
      if (request.scheme === 'ecb') checkDesParity(key);
      if (request.expectedKcv !== undefined && !key.kcv.startsWith(request.expectedKcv.toUpperCase())) {
        fail('HSM_KEY_CHECK_VALUE_MISMATCH');
      }
      return key.info();
    });
  }

  // --- MAC ------------------------------------------------------------------------------------

  /** Synchronous MAC on a loaded key (the hot path; shared by the PSAM and DUKPT operations). */
  private mac(key: LoadedKey, algorithm: MacRequest['algorithm'], data: Uint8Array, padding: 1 | 2 | 3 = 1): Buffer {
    if (data.length > this.macDataBytesMax) fail('HSM_INPUT_INVALID', 'MAC data too long');
    switch (algorithm) {
      case 'x9.19':
        if (key.family === 'aes') fail('HSM_KEY_USAGE_MISMATCH', 'X9.19 needs a DES key');
        return macAlgorithm3(key.desHalves.left, key.desHalves.right, data, padding);
      case 'iso9797-1-alg1':
        return macAlgorithm1(key.cipher, data, padding);
      case 'unionpay-ecb':
        if (key.family === 'aes') fail('HSM_KEY_USAGE_MISMATCH', 'the UnionPay MAC needs a DES key');
        return unionPayEcbMac(key.cipher, data);
      case 'cmac':
        return cmac(key.cipher, data, key.cmacSubkeys);
    }
  }

  private macKey(handle: KeyHandle): LoadedKey {
    const key = this.load(handle);
    requireType(key, MAC_KEY_TYPES, 'a MAC key');
    return key;
  }

  private checkMac(computed: Buffer, mac: Uint8Array): void {
    if (mac.length < 4 || mac.length > computed.length || !equalBytes(computed.subarray(0, mac.length), mac)) {
      fail('HSM_MAC_INVALID');
    }
  }

  generateMac(request: MacRequest): Promise<Buffer> {
    return this.run(() => this.mac(this.macKey(request.key), request.algorithm, request.data, request.padding));
  }

  verifyMac(request: VerifyMacRequest): Promise<void> {
    return this.run(() => {
      this.checkMac(this.mac(this.macKey(request.key), request.algorithm, request.data, request.padding), request.mac);
    });
  }

  // --- PIN ------------------------------------------------------------------------------------

  /** Deciphers a PIN block under a key and returns the clear PIN (HSM-internal only). */
  private readPin(key: LoadedKey, format: PinBlockFormat, pinBlock: Uint8Array, pan: string): string {
    if (format === 4) {
      if (key.family !== 'aes') fail('HSM_PIN_FORMAT_UNSUPPORTED', 'format 4 needs an AES key');
      return decipherFormat4(key.cipher, pinBlock, pan);
    }
    if (key.family === 'aes') fail('HSM_PIN_FORMAT_UNSUPPORTED', `format ${format} needs a TDES key`);
    if (pinBlock.length !== 8) fail('HSM_INPUT_INVALID', 'a PIN block is 8 bytes');
    return decodePinBlock(format, key.cipher.decrypt(pinBlock), pan);
  }

  private writePin(key: LoadedKey, format: PinBlockFormat, pin: string, pan: string): Buffer {
    if (format === 4) {
      if (key.family !== 'aes') fail('HSM_PIN_FORMAT_UNSUPPORTED', 'format 4 needs an AES key');
      return encipherFormat4(key.cipher, pin, pan);
    }
    if (key.family === 'aes') fail('HSM_PIN_FORMAT_UNSUPPORTED', `format ${format} needs a TDES key`);
    return key.cipher.encrypt(encodePinBlock(format, pin, pan));
  }

  private pinKey(target: PinKeyAndFormat, allowed: readonly KeyType[], role: string): LoadedKey {
    const key = this.load(target.key);
    requireType(key, allowed, role);
    return key;
  }

  translatePin(request: TranslatePinRequest): Promise<Buffer> {
    return this.run(() => {
      const source = this.pinKey(request.source, PIN_SOURCE_TYPES, 'a source PIN key');
      const target = this.pinKey(request.target, PIN_TARGET_TYPES, 'a target PIN key');
      const pin = this.readPin(source, request.source.format, request.pinBlock, request.pan);
      return this.writePin(target, request.target.format, pin, request.pan);
    });
  }

  /** The DUKPT working key of `usage` for a KSN, as a cipher. */
  private dukptKey(bdkHandle: KeyHandle, ksn: Uint8Array, usage: 'pin' | 'macRequest' | 'macResponse'): LoadedKeyLike {
    const bdk = this.load(bdkHandle);
    requireType(bdk, ['BDK'], 'a BDK');
    if (bdk.family === 'aes') {
      if (ksn.length !== 12) fail('HSM_KSN_INVALID', 'an AES DUKPT KSN is 12 bytes');
      const transaction = aesTransactionKey(aesInitialKey(bdk.clear, ksn.subarray(0, 8)), ksn);
      const aesUsage = usage === 'pin' ? 'pinEncryption' : usage === 'macRequest' ? 'macGeneration' : 'macVerification';
      const working = aesWorkingKey(transaction, ksn, aesUsage);
      return { family: 'aes', clear: working, cipher: blockCipher('aes', working) };
    }
    if (ksn.length !== 10) fail('HSM_KSN_INVALID', 'a TDES DUKPT KSN is 10 bytes');
    // One IPEK per device (BDK + initial KSN): cache it, the per-KSN steps cannot be.
    const device = Buffer.from(ksn.subarray(0, 8));
    device[7] = (device[7] ?? 0) & 0xe0;
    const cacheKey = `${bdkHandle}|${toHex(device)}`;
    let ipek = this.ipeks.get(cacheKey);
    if (ipek === undefined) {
      ipek = tdesIpek(bdk.clear, ksn);
      remember(this.ipeks, cacheKey, ipek, this.cacheMax);
    }
    const working = tdesWorkingKey(tdesCurrentKey(ipek, ksn), usage);
    return { family: 'tdes', clear: working, cipher: blockCipher('tdes', working) };
  }

  translateDukptPin(request: TranslateDukptPinRequest): Promise<Buffer> {
    return this.run(() => {
      const target = this.pinKey(request.target, PIN_TARGET_TYPES, 'a target PIN key');
      const pinKey = this.dukptKey(request.bdk, request.ksn, 'pin');
      let pin: string;
      if (pinKey.family === 'aes') {
        if (request.sourceFormat !== 4) fail('HSM_PIN_FORMAT_UNSUPPORTED', 'AES DUKPT carries format 4');
        pin = decipherFormat4(pinKey.cipher, request.pinBlock, request.pan);
      } else {
        if (request.sourceFormat === 4) fail('HSM_PIN_FORMAT_UNSUPPORTED', 'TDES DUKPT cannot carry format 4');
        if (request.pinBlock.length !== 8) fail('HSM_INPUT_INVALID', 'a PIN block is 8 bytes');
        pin = decodePinBlock(request.sourceFormat, pinKey.cipher.decrypt(request.pinBlock), request.pan);
      }
      pinKey.clear.fill(0);
      return this.writePin(target, request.target.format, pin, request.pan);
    });
  }

  private dukptMac(request: DukptMacRequest): Buffer {
    const key = this.dukptKey(request.bdk, request.ksn, request.direction === 'request' ? 'macRequest' : 'macResponse');
    let mac: Buffer;
    if (key.family === 'aes') {
      mac = cmac(key.cipher, request.data);
    } else {
      mac = macAlgorithm3(
        blockCipher('des', key.clear.subarray(0, 8)),
        blockCipher('des', key.clear.subarray(8, 16)),
        request.data,
      );
    }
    key.clear.fill(0);
    return mac;
  }

  generateDukptMac(request: DukptMacRequest): Promise<Buffer> {
    return this.run(() => this.dukptMac(request));
  }

  verifyDukptMac(request: DukptMacRequest & { readonly mac: Uint8Array }): Promise<void> {
    return this.run(() => this.checkMac(this.dukptMac(request), request.mac));
  }

  encryptPinUnderLmk(request: Omit<VerifyPinRequest, 'reference'>): Promise<LmkPin> {
    return this.run(() => {
      const source = this.pinKey(request.source, PIN_SOURCE_TYPES, 'a source PIN key');
      const pin = this.readPin(source, request.source.format, request.pinBlock, request.pan);
      return `P${toHex(encipherFormat4(this.pinStorage, pin, request.pan))}` as LmkPin;
    });
  }

  verifyPin(request: VerifyPinRequest): Promise<void> {
    return this.run(() => {
      const source = this.pinKey(request.source, PIN_SOURCE_TYPES, 'a source PIN key');
      const pin = this.readPin(source, request.source.format, request.pinBlock, request.pan);
      if (!/^P[0-9A-F]{32}$/.test(request.reference)) fail('HSM_INPUT_INVALID', 'not a PIN under the LMK');
      let reference: string;
      try {
        reference = decipherFormat4(this.pinStorage, fromHex(request.reference.slice(1)), request.pan);
      } catch {
        fail('HSM_INPUT_INVALID', 'the reference PIN is not under this LMK or for this account');
      }
      const a = Buffer.from(pin.padEnd(12, 'F'));
      const b = Buffer.from(reference.padEnd(12, 'F'));
      if (!equalBytes(a, b)) fail('HSM_PIN_INVALID');
    });
  }

  // --- PBOC / PSAM ----------------------------------------------------------------------------

  private psamSessionClear(request: PsamSessionRequest): Buffer {
    const mk = this.load(request.masterKey);
    requireType(mk, ['PBOC_MK'], 'a PBOC master key');
    if (mk.family !== 'tdes') fail('HSM_KEY_USAGE_MISMATCH', 'PBOC diversification needs a TDES key');
    if (request.factors.length === 0) fail('HSM_INPUT_INVALID', 'at least one diversification factor');
    if (!Number.isInteger(request.counter) || request.counter < 0 || request.counter > PBOC_COUNTER_MAX) {
      fail('HSM_INPUT_INVALID', 'PSAM counter');
    }
    // The diversified key of a PSAM is the same for every transaction: cache its cipher.
    let cacheKey = request.masterKey as string;
    for (const f of request.factors) cacheKey += `|${toHex(f)}`;
    let dk = this.diversifiedKeys.get(cacheKey);
    if (dk === undefined) {
      const clear = pbocDiversifyLevels(mk.cipher, request.factors);
      dk = blockCipher('tdes', clear);
      clear.fill(0);
      remember(this.diversifiedKeys, cacheKey, dk, this.cacheMax);
    }
    return pbocSessionKey(dk, request.random, request.counter);
  }

  derivePsamSessionKey(request: PsamSessionRequest): Promise<KeyInfo> {
    return this.run(() => {
      const sk = this.psamSessionClear(request);
      const key = this.store.store('PSAM_SESSION', 'des', sk);
      sk.fill(0);
      return key.info();
    });
  }

  private psamMac(request: PsamMacRequest): Buffer {
    if (request.lastCounter !== undefined && request.counter <= request.lastCounter) {
      fail('HSM_PSAM_COUNTER_REPLAYED', `counter ${request.counter} ≤ ${request.lastCounter}`);
    }
    const sk = this.psamSessionClear(request);
    const cipher = blockCipher('des', sk);
    let mac: Buffer;
    if (request.algorithm === 'x9.19') mac = macAlgorithm3(cipher, cipher, request.data, request.padding ?? 1);
    else if (request.algorithm === 'unionpay-ecb') mac = unionPayEcbMac(cipher, request.data);
    else if (request.algorithm === 'iso9797-1-alg1') mac = macAlgorithm1(cipher, request.data, request.padding ?? 1);
    else mac = cmac(cipher, request.data);
    sk.fill(0);
    return mac;
  }

  generatePsamMac(request: PsamMacRequest): Promise<Buffer> {
    return this.run(() => this.psamMac(request));
  }

  verifyPsamMac(request: VerifyPsamMacRequest): Promise<void> {
    return this.run(() => this.checkMac(this.psamMac(request), request.mac));
  }

  /** Runs an operation, mapping primitive errors to result codes, as a promise. */
  private run<T>(op: () => T): Promise<T> {
    try {
      return Promise.resolve(op());
    } catch (e) {
      try {
        mapCryptoError(e);
      } catch (mapped) {
        return Promise.reject(mapped instanceof Error ? mapped : new Error(String(mapped)));
      }
    }
  }
}

interface LoadedKeyLike {
  readonly family: 'tdes' | 'aes';
  readonly clear: Buffer;
  readonly cipher: BlockCipher;
}
