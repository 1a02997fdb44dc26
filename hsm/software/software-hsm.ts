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
import { CardVerificationError, visaCvv } from '../crypto/card-verification';
import { gcmOpen, gcmSeal, GCM_IV_BYTES, GCM_TAG_BYTES, SealError } from '../crypto/data-sealing';
import { randomBytes, randomInt } from 'node:crypto';
import { FixpayError, isFixpayError } from '../../domain/errors';
import type { ResultCodeName } from '../../domain/errors';
import { maskDeep } from '../../domain/masking';
import { keyRef } from '../audit';
import type { AuditedKey, HsmAuditRecord, HsmAuditSink } from '../audit';
import { checkForm, checkGenerate, checkUnwrap, checkUnwrapKek, checkUse, checkWrap } from '../key-policy';
import type { KeyUse, PolicyRefusal } from '../key-policy';
import { HSM_DEFAULTS } from '../port';
import type {
  LmkPan,
  OpenSealedDataRequest,
  SealDataRequest,
  SealedData,
  CallerScopedHsm,
  CardVerificationRequest,
  GeneratedPin,
  GeneratePinRequest,
  DukptMacRequest,
  ExportKeyRequest,
  GeneratedKey,
  GenerateKeyRequest,
  HsmCaller,
  HsmDiagnostics,
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
import {
  ALGORITHM_SPECS,
  algorithmOf,
  isKeyType,
  LmkKeyStore,
  TYPE_BLOCK_ID,
  TYPE_USAGE,
  typesForUsage,
} from './key-store';
import type { LoadedKey } from './key-store';

export const SOFTWARE_HSM_FIRMWARE = 'fixpay-soft-1.0';

/** Digits of a PIN the HSM generates for a new card when the request names no length. */
export const CARD_PIN_LENGTH_DEFAULT = 6;

export interface SoftwareHsmOptions {
  /** The LMK: 32 bytes (AES-256), from a protected file or the environment, via the config module. */
  readonly lmk: Uint8Array;
  readonly keyCacheEntriesMax?: number;
  readonly macDataBytesMax?: number;
  /** Where audit lines go (one per key command); none when absent. */
  readonly audit?: HsmAuditSink;
}

function fail(name: ResultCodeName, detail?: string): never {
  throw new FixpayError(name, detail);
}

/** Throws the policy's refusal, if any. */
function enforce(refusal: PolicyRefusal | undefined): void {
  if (refusal !== undefined) fail(refusal.code, refusal.reason);
}

function requireUse(key: LoadedKey, use: KeyUse): void {
  enforce(checkUse(use, key.type));
}

const IN_PROCESS: HsmCaller = { clientId: 'in-process' };
/** Associated data of every card number under the LMK (binds the ciphertext to its purpose). */
const LMK_PAN_AAD = Buffer.from('fixpay/lmk/pan/v1', 'ascii');
/** Where `note` writes when no audit sink is configured: always empty. */
const NOT_AUDITED: AuditedKey[] = [];

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
  if (e instanceof CardVerificationError) fail('HSM_INPUT_INVALID', e.message);
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

export class SoftwareHsm implements CallerScopedHsm {
  private readonly store: LmkKeyStore;
  private readonly audit: HsmAuditSink | undefined;
  /** Who this instance acts for; `forCaller` views replace it. */
  private readonly caller: HsmCaller = IN_PROCESS;
  private readonly macDataBytesMax: number;
  private readonly sealDataBytesMax: number;
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
    this.sealDataBytesMax = HSM_DEFAULTS.sealDataBytesMax;
    this.pinStorage = blockCipher('aes', this.store.pinStorageKey);
    this.cacheMax = options.keyCacheEntriesMax ?? HSM_DEFAULTS.keyCacheEntriesMax;
    this.audit = options.audit;
  }

  /**
   * The same HSM acting for `caller`: audit lines name it, and only a caller in operator mode may
   * form keys from components. The view shares this instance's key store and caches (it is an
   * object whose prototype is this one, with its own `caller`).
   */
  forCaller(caller: HsmCaller): SoftwareHsm {
    const view = Object.create(this) as SoftwareHsm;
    Object.defineProperty(view, 'caller', { value: Object.freeze({ ...caller }), enumerable: false });
    return view;
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
   * must have odd parity. Returns the handle and check value only. Throws
   * HSM_OPERATOR_MODE_REQUIRED on a `forCaller` view that is not in operator mode.
   */
  importClearKey(type: KeyType, algorithm: KeyAlgorithm, clearHex: string): KeyInfo {
    // The console is the process holding the LMK, or a view in operator mode; never a view made
    // for a network client (the server's): a chosen key can then not be planted through it.
    if (this.caller !== IN_PROCESS && this.caller.operatorMode !== true) {
      fail('HSM_OPERATOR_MODE_REQUIRED', 'clear key entry');
    }
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

  private wrapForExport(
    key: LoadedKey,
    kek: LoadedKey,
    scheme: 'tr31' | 'ecb',
    operation: 'export' | 'generate-export',
  ): string {
    enforce(
      checkWrap({
        operation,
        key,
        kek,
        scheme,
        sameValue: key.handle === kek.handle || equalBytes(key.clear, kek.clear),
      }),
    );
    if (scheme === 'ecb') return toHex(kek.cipher.encrypt(key.clear));
    const usage = TYPE_USAGE[key.type];
    return wrapKeyBlock(
      kek.keyBlockKeys,
      {
        keyUsage: usage.usage,
        algorithm: ALGORITHM_SPECS[key.algorithm].letter,
        modeOfUse: usage.mode,
        keyVersion: '00',
        exportability: 'E',
        // The fixpay type travels in the block, under its MAC: it comes back as the same type.
        optionalBlocks: [{ id: TYPE_BLOCK_ID, data: key.type }],
      },
      key.clear,
    );
  }

  /** Records a key of a command for its audit line. */
  private static note(seen: AuditedKey[], role: string, key: LoadedKey): void {
    if (seen === NOT_AUDITED) return;
    seen.push({ role, type: key.type, algorithm: key.algorithm, kcv: key.kcv, ref: keyRef(key.handle) });
  }

  generateKey(request: GenerateKeyRequest): Promise<GeneratedKey> {
    const scheme = request.exportUnder?.scheme;
    return this.runAudited(
      'generate',
      () => (scheme === undefined ? undefined : { scheme }),
      (seen) => {
        enforce(checkGenerate(request.type));
        // The KEK is checked before a key exists: a refused export leaves no orphan key behind.
        const kek = request.exportUnder === undefined ? undefined : this.load(request.exportUnder.kek);
        if (kek !== undefined) SoftwareHsm.note(seen, 'kek', kek);
        const clear = LmkKeyStore.randomKey(request.algorithm);
        const key = this.store.store(request.type, request.algorithm, clear);
        clear.fill(0);
        SoftwareHsm.note(seen, 'result', key);
        if (request.exportUnder === undefined || kek === undefined) return key.info();
        const exported = this.wrapForExport(key, kek, request.exportUnder.scheme, 'generate-export');
        if (request.exportUnder.scheme === 'tr31') return { ...key.info(), exported };
        return { ...key.info(), exported, exportedCheckValue: key.kcv4 };
      },
    );
  }

  formKeyFromComponents(request: {
    readonly type: KeyType;
    readonly algorithm: KeyAlgorithm;
    readonly components: readonly KeyHandle[];
  }): Promise<KeyInfo> {
    return this.runAudited(
      'form',
      () => ({ type: request.type }),
      (seen) => {
        const operatorMode = this.caller.operatorMode === true;
        enforce(checkForm({ operatorMode, type: request.type, componentCount: 2, repeatedComponent: false }));
        const bytes = ALGORITHM_SPECS[request.algorithm].bytes;
        const components: LoadedKey[] = [];
        for (const handle of request.components) {
          const component = this.load(handle);
          SoftwareHsm.note(seen, 'component', component);
          requireUse(component, 'component');
          if (component.clear.length !== bytes) fail('HSM_INPUT_INVALID', 'component length differs from the key');
          components.push(component);
        }
        const repeatedComponent = components.some((c, i) =>
          components.slice(0, i).some((d) => equalBytes(c.clear, d.clear)),
        );
        enforce(checkForm({ operatorMode, type: request.type, componentCount: components.length, repeatedComponent }));
        let clear: Buffer = Buffer.alloc(bytes);
        for (const component of components) clear = xor(clear, component.clear);
        // Forced to odd parity, as HSMs do when forming a DES key from an even number of components.
        const formed = ALGORITHM_SPECS[request.algorithm].family === 'aes' ? clear : withOddParity(clear);
        const key = this.store.store(request.type, request.algorithm, formed);
        clear.fill(0);
        formed.fill(0);
        SoftwareHsm.note(seen, 'result', key);
        return key.info();
      },
    );
  }

  describeKey(handle: KeyHandle): Promise<KeyInfo> {
    return this.run(() => this.load(handle).info());
  }

  exportKey(request: ExportKeyRequest): Promise<{ readonly cryptogram: string; readonly kcv: string }> {
    return this.runAudited(
      'export',
      () => ({ scheme: request.scheme }),
      (seen) => {
        const key = this.load(request.key);
        SoftwareHsm.note(seen, 'key', key);
        const kek = this.load(request.kek);
        SoftwareHsm.note(seen, 'kek', kek);
        return { cryptogram: this.wrapForExport(key, kek, request.scheme, 'export'), kcv: key.kcv };
      },
    );
  }

  importKey(request: ImportKeyRequest): Promise<KeyInfo> {
    const params = (): Record<string, string> =>
      request.type === undefined ? { scheme: request.scheme } : { scheme: request.scheme, type: request.type };
    return this.runAudited('import', params, (seen) => {
      const kek = this.load(request.kek);
      SoftwareHsm.note(seen, 'kek', kek);
      enforce(checkUnwrapKek(kek, request.scheme));
      const { header, key: clear } = unwrapKeyBlock(kek.keyBlockKeys, request.cryptogram);
      try {
        const algorithm = algorithmOf(header.algorithm, clear.length);
        if (algorithm === undefined) fail('HSM_KEY_BLOCK_INVALID', 'unknown algorithm');
        if (request.algorithm !== undefined && request.algorithm !== algorithm) {
          fail('HSM_KEY_USAGE_MISMATCH', 'the key block holds another algorithm');
        }
        const bound = header.optionalBlocks.find((b) => b.id === TYPE_BLOCK_ID)?.data;
        if (bound !== undefined && !isKeyType(bound)) fail('HSM_KEY_BLOCK_INVALID', 'unknown key type');
        const verdict = checkUnwrap({
          kek,
          scheme: 'tr31',
          blockUsage: header.keyUsage,
          algorithm,
          typesForUsage: typesForUsage(header.keyUsage),
          ...(bound === undefined ? {} : { boundType: bound }),
          ...(request.type === undefined ? {} : { requestedType: request.type }),
        });
        if ('code' in verdict) return fail(verdict.code, verdict.reason);
        // A block marked non-exportable stays in this HSM for good.
        const key = this.store.store(verdict.type, algorithm, clear, header.exportability !== 'N');
        SoftwareHsm.note(seen, 'result', key);
        if (request.expectedKcv !== undefined && !key.kcv.startsWith(request.expectedKcv.toUpperCase())) {
          fail('HSM_KEY_CHECK_VALUE_MISMATCH');
        }
        return key.info();
      } finally {
        clear.fill(0);
      }
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
    requireUse(key, 'mac');
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

  private pinKey(target: PinKeyAndFormat, use: 'pinSource' | 'pinTarget'): LoadedKey {
    const key = this.load(target.key);
    requireUse(key, use);
    return key;
  }

  translatePin(request: TranslatePinRequest): Promise<Buffer> {
    const params = (): Record<string, string> => ({
      from: String(request.source.format),
      to: String(request.target.format),
    });
    return this.runAudited('translate-pin', params, (seen) => {
      const source = this.pinKey(request.source, 'pinSource');
      if (this.audit !== undefined) SoftwareHsm.note(seen, 'source', source);
      const target = this.pinKey(request.target, 'pinTarget');
      if (this.audit !== undefined) SoftwareHsm.note(seen, 'target', target);
      const pin = this.readPin(source, request.source.format, request.pinBlock, request.pan);
      return this.writePin(target, request.target.format, pin, request.pan);
    });
  }

  /** The DUKPT working key of `usage` for a KSN, as a cipher. */
  private dukptKey(bdkHandle: KeyHandle, ksn: Uint8Array, usage: 'pin' | 'macRequest' | 'macResponse'): LoadedKeyLike {
    const bdk = this.load(bdkHandle);
    requireUse(bdk, 'dukptBase');
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
    const params = (): Record<string, string> => ({
      from: String(request.sourceFormat),
      to: String(request.target.format),
    });
    return this.runAudited('translate-dukpt-pin', params, (seen) => {
      const target = this.pinKey(request.target, 'pinTarget');
      if (this.audit !== undefined) {
        SoftwareHsm.note(seen, 'target', target);
        SoftwareHsm.note(seen, 'bdk', this.load(request.bdk));
      }
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
    return this.runAudited(
      'translate-pin-to-lmk',
      () => ({ from: String(request.source.format) }),
      (seen) => {
        const source = this.pinKey(request.source, 'pinSource');
        SoftwareHsm.note(seen, 'source', source);
        const pin = this.readPin(source, request.source.format, request.pinBlock, request.pan);
        return `P${toHex(encipherFormat4(this.pinStorage, pin, request.pan))}` as LmkPin;
      },
    );
  }

  verifyPin(request: VerifyPinRequest): Promise<void> {
    return this.run(() => {
      const source = this.pinKey(request.source, 'pinSource');
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

  generatePin(request: GeneratePinRequest): Promise<GeneratedPin> {
    return this.runAudited(
      'generate-pin',
      () => ({ length: String(request.length ?? CARD_PIN_LENGTH_DEFAULT) }),
      (seen) => {
        const length = request.length ?? CARD_PIN_LENGTH_DEFAULT;
        if (!Number.isInteger(length) || length < 4 || length > 12)
          fail('HSM_INPUT_INVALID', 'a PIN is 4 to 12 digits');
        // The number kept at rest is opened here, inside the HSM: it never leaves in clear.
        const pan = request.lmkPan === undefined ? request.pan : this.openPan(request.lmkPan);
        if (!/^\d{12,19}$/.test(pan)) fail('HSM_INPUT_INVALID', 'the account number is 12 to 19 digits');
        const printer = this.load(request.printerKey);
        requireUse(printer, 'pinMailer');
        if (printer.family !== 'tdes') fail('HSM_KEY_USAGE_MISMATCH', 'the mailer printer key is a TDES key');
        SoftwareHsm.note(seen, 'printer', printer);
        let pin = '';
        for (let i = 0; i < length; i++) pin += String(randomInt(10));
        const reference = `P${toHex(encipherFormat4(this.pinStorage, pin, pan))}` as LmkPin;
        const mailer = toHex(printer.cipher.encrypt(encodePinBlock(1, pin)));
        return { reference, mailer };
      },
    );
  }

  // --- card numbers at rest and sealed data ---------------------------------------------------

  encryptPanUnderLmk(pan: string): Promise<LmkPan> {
    return this.run(() => {
      if (!/^\d{12,19}$/.test(pan)) fail('HSM_INPUT_INVALID', 'the account number is 12 to 19 digits');
      const iv = randomBytes(GCM_IV_BYTES);
      const out = gcmSeal(this.store.panStorageKey, iv, Buffer.from(pan, 'ascii'), LMK_PAN_AAD);
      return `Q${toHex(Buffer.concat([iv, out.ciphertext, out.tag]))}` as LmkPan;
    });
  }

  private openPan(lmkPan: LmkPan): string {
    if (!/^Q[0-9A-F]{80,110}$/.test(lmkPan)) fail('HSM_INPUT_INVALID', 'not a card number under the LMK');
    const raw = fromHex(lmkPan.slice(1));
    try {
      const pan = gcmOpen(
        this.store.panStorageKey,
        raw.subarray(0, GCM_IV_BYTES),
        raw.subarray(GCM_IV_BYTES, raw.length - GCM_TAG_BYTES),
        raw.subarray(raw.length - GCM_TAG_BYTES),
        LMK_PAN_AAD,
      ).toString('ascii');
      return pan;
    } catch (e) {
      if (e instanceof SealError) fail('HSM_INPUT_INVALID', 'the card number is not under this LMK');
      throw e;
    }
  }

  private sealingKey(handle: KeyHandle): LoadedKey {
    const key = this.load(handle);
    requireUse(key, 'dataSealing');
    if (key.family !== 'aes') fail('HSM_KEY_USAGE_MISMATCH', 'a bureau key is an AES key');
    return key;
  }

  sealData(request: SealDataRequest): Promise<SealedData> {
    return this.runAudited(
      'seal-data',
      () => ({ bytes: String(request.data.length) }),
      (seen) => {
        const key = this.sealingKey(request.key);
        SoftwareHsm.note(seen, 'bureau', key);
        if (request.data.length > this.sealDataBytesMax)
          fail('HSM_INPUT_INVALID', `at most ${this.sealDataBytesMax} bytes are sealed at once`);
        if ((request.aad?.length ?? 0) > this.sealDataBytesMax) fail('HSM_INPUT_INVALID', 'associated data too long');
        const iv = randomBytes(GCM_IV_BYTES);
        const out = gcmSeal(key.clear, iv, request.data, request.aad);
        return {
          format: 'AES-GCM',
          kcv: key.kcv,
          iv: toHex(iv),
          data: toHex(Buffer.concat([out.ciphertext, out.tag])),
        };
      },
    );
  }

  openSealedData(request: OpenSealedDataRequest): Promise<Buffer> {
    return this.runAudited(
      'open-sealed-data',
      () => ({ bytes: String(request.sealed.data.length / 2) }),
      (seen) => {
        // Opening is the console's, at a four-eyes session: never the platform's own processes.
        if (this.caller.operatorMode !== true) fail('HSM_OPERATOR_MODE_REQUIRED', 'opening sealed data');
        const key = this.sealingKey(request.key);
        SoftwareHsm.note(seen, 'bureau', key);
        const { sealed } = request;
        if (
          (sealed.format as string) !== 'AES-GCM' ||
          !/^[0-9A-F]{24}$/i.test(sealed.iv) ||
          !/^([0-9A-F]{2}){16,}$/i.test(sealed.data) ||
          sealed.data.length > 2 * (this.sealDataBytesMax + GCM_TAG_BYTES)
        )
          fail('HSM_INPUT_INVALID', 'not sealed data');
        if (sealed.kcv.toUpperCase() !== key.kcv) fail('HSM_KEY_CHECK_VALUE_MISMATCH', 'sealed under another key');
        const raw = fromHex(sealed.data);
        try {
          return gcmOpen(
            key.clear,
            fromHex(sealed.iv),
            raw.subarray(0, raw.length - GCM_TAG_BYTES),
            raw.subarray(raw.length - GCM_TAG_BYTES),
            request.aad,
          );
        } catch (e) {
          if (e instanceof SealError) fail('HSM_INPUT_INVALID', 'the seal does not verify');
          throw e;
        }
      },
    );
  }

  generateCardVerificationValue(request: CardVerificationRequest): Promise<string> {
    return this.runAudited(
      'generate-cvv',
      () => ({ serviceCode: request.serviceCode }),
      (seen) => {
        const cvk = this.load(request.cvk);
        requireUse(cvk, 'cardVerification');
        if (cvk.clear.length !== 16) fail('HSM_KEY_USAGE_MISMATCH', 'a CVK is a double-length TDES key');
        SoftwareHsm.note(seen, 'cvk', cvk);
        return visaCvv(cvk.clear, request.pan, request.expiry, request.serviceCode);
      },
    );
  }

  // --- PBOC / PSAM ----------------------------------------------------------------------------

  private psamSessionClear(request: PsamSessionRequest): Buffer {
    const mk = this.load(request.masterKey);
    requireUse(mk, 'pbocMaster');
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
    return this.runAudited(
      'derive-psam-session',
      () => ({ levels: String(request.factors.length) }),
      (seen) => {
        const mk = this.load(request.masterKey);
        SoftwareHsm.note(seen, 'master', mk);
        const sk = this.psamSessionClear(request);
        const key = this.store.store('PSAM_SESSION', 'des', sk);
        sk.fill(0);
        SoftwareHsm.note(seen, 'result', key);
        return key.info();
      },
    );
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

  /**
   * Runs a key command like `run`, then writes its audit line (accepted or refused) when an audit
   * sink is configured. `op` records the keys it touches in `seen` as it loads them.
   */
  private runAudited<T>(
    command: string,
    params: () => Readonly<Record<string, string>> | undefined,
    op: (seen: AuditedKey[]) => T,
  ): Promise<T> {
    const audit = this.audit;
    // Without a sink the hot paths (PIN translation) pay nothing for the audit.
    if (audit === undefined) return this.run(() => op(NOT_AUDITED));
    const seen: AuditedKey[] = [];
    const result = this.run(() => op(seen));
    const write = (outcome: 'ok' | 'refused', code?: string): void => {
      const record: HsmAuditRecord = {
        audit: 'hsm',
        command,
        client: this.caller.clientId,
        outcome,
        ...(code === undefined ? {} : { result: code }),
        keys: seen,
      };
      const p = params();
      if (p !== undefined) Object.assign(record, { params: p });
      audit.info(record, `hsm audit: ${command} ${outcome}`);
    };
    return result.then(
      (value) => {
        write('ok');
        return value;
      },
      (e: unknown) => {
        write('refused', isFixpayError(e) ? e.codeName : 'INTERNAL');
        throw e;
      },
    );
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
