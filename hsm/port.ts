/**
 * The HSM port: everything the platform asks of a hardware security module. Activities depend on
 * this interface only; `hsm/software` implements it in process and `hsm/host-protocol` implements
 * it over a payShield-style TCP link (to `fixpay hsm` or a real appliance).
 *
 * Keys are opaque `KeyHandle`s — the key enciphered under the HSM's local master key (LMK) — so
 * they may be stored in the database and passed around, but the port never returns a clear key.
 * Expected failures reject with a `FixpayError` from the FP4xxx range (see docs/errors.md).
 */

declare const keyHandleBrand: unique symbol;
/** A key under the LMK (`S` + key block). Opaque: only an HSM holding the same LMK can use it. */
export type KeyHandle = string & { readonly [keyHandleBrand]: true };

/** Key types by role (payments.md §3.3). One purpose per key: operations check the type. */
export const KEY_TYPES = [
  'ZMK', // zone master key: wraps keys exchanged with other hosts
  'TMK', // terminal master key: wraps working keys sent to a terminal (0810 field 62)
  'KBPK', // key block protection key: TR-31 export/import only
  'ZPK', // zone PIN key
  'TPK', // terminal PIN key (PIK)
  'ZAK', // zone MAC key
  'TAK', // terminal MAC key (MAK)
  'ZEK', // zone data key
  'TDK', // terminal track/data key
  'BDK', // DUKPT base derivation key
  'PBOC_MK', // PBOC master key diversified per PSAM
  'CVK', // card verification key pair (A‖B): CVV, CVV2, iCVV of the cards we issue
  'BUREAU', // card bureau data key (TR-31 D0, AES): seals the bureau file and PIN mailers
  'PSAM_SESSION', // one-transaction PSAM session MAC key (single DES)
  'COMPONENT', // one custodian's component, for forming a key at a ceremony
] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const KEY_ALGORITHMS = ['des', 'tdes2', 'tdes3', 'aes128', 'aes192', 'aes256'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** What anyone may know about a key: never the key itself. */
export interface KeyInfo {
  readonly handle: KeyHandle;
  readonly type: KeyType;
  readonly algorithm: KeyAlgorithm;
  /** Key check value, 6 hex digits (zero block enciphered with the key). */
  readonly kcv: string;
}

/** How a key travels under a key-encrypting key. */
export type ExportScheme =
  /** TR-31 key block (version B under a TDES KEK, D under an AES KEK). Required by PCI PIN 18-3. */
  | 'tr31'
  /** Legacy ECB encipherment under a TMK/ZMK, as UnionPay 0810 field 62 carries working keys. */
  | 'ecb';

export interface GenerateKeyRequest {
  readonly type: KeyType;
  readonly algorithm: KeyAlgorithm;
  /** Also return the new key enciphered under this KEK (payShield A0 mode 1). */
  readonly exportUnder?: { readonly kek: KeyHandle; readonly scheme: ExportScheme };
}

export interface GeneratedKey extends KeyInfo {
  /** The key under `exportUnder.kek`: hex for `ecb`, the key block for `tr31`. */
  readonly exported?: string;
  /** For `ecb` exports: the first 4 bytes of the check value (8 hex), as 0810 field 62 carries it. */
  readonly exportedCheckValue?: string;
}

export interface ExportKeyRequest {
  readonly key: KeyHandle;
  readonly kek: KeyHandle;
  readonly scheme: ExportScheme;
}

export interface ImportKeyRequest {
  readonly kek: KeyHandle;
  readonly scheme: ExportScheme;
  /** Hex for `ecb`, the key block for `tr31`. */
  readonly cryptogram: string;
  /** Needed for `ecb` (a TR-31 block carries its own usage; when given it must agree). */
  readonly type?: KeyType;
  readonly algorithm?: KeyAlgorithm;
  /** When given, the imported key's check value must match (leading hex digits compared). */
  readonly expectedKcv?: string;
}

/** MAC algorithms. `x9.19` is ISO/IEC 9797-1 algorithm 3 with a double-length DES key. */
export type MacAlgorithm = 'iso9797-1-alg1' | 'x9.19' | 'unionpay-ecb' | 'cmac';
/** ISO/IEC 9797-1 padding method. Ignored by `unionpay-ecb` and `cmac`, which define their own. */
export type MacPaddingMethod = 1 | 2 | 3;

export interface MacRequest {
  readonly key: KeyHandle;
  readonly algorithm: MacAlgorithm;
  readonly padding?: MacPaddingMethod;
  readonly data: Uint8Array;
}

export interface VerifyMacRequest extends MacRequest {
  /** The received MAC; a shorter MAC is compared with the leading bytes of the computed one. */
  readonly mac: Uint8Array;
}

/** ISO 9564 PIN block format number (4 = AES, 16 bytes). */
export type PinBlockFormat = 0 | 1 | 2 | 3 | 4;

export interface PinKeyAndFormat {
  readonly key: KeyHandle;
  readonly format: PinBlockFormat;
}

export interface TranslatePinRequest {
  /** TPK (terminal → host, payShield CA) or ZPK (zone → zone, CC). */
  readonly source: PinKeyAndFormat;
  readonly target: PinKeyAndFormat;
  readonly pinBlock: Uint8Array;
  /** The full PAN (the HSM takes the digits each format needs). Never logged. */
  readonly pan: string;
}

export interface TranslateDukptPinRequest {
  readonly bdk: KeyHandle;
  /** 10 bytes for TDES DUKPT (X9.24-1), 12 bytes for AES DUKPT (X9.24-3). */
  readonly ksn: Uint8Array;
  readonly pinBlock: Uint8Array;
  /** Format of the terminal's block: 0/1/3 under TDES DUKPT, 4 under AES DUKPT. */
  readonly sourceFormat: PinBlockFormat;
  readonly target: PinKeyAndFormat;
  readonly pan: string;
}

export interface DukptMacRequest {
  readonly bdk: KeyHandle;
  readonly ksn: Uint8Array;
  /** Which DUKPT MAC key: the terminal's request or the host's response. */
  readonly direction: 'request' | 'response';
  readonly data: Uint8Array;
}

/** A PIN kept for verification: enciphered under the LMK, opaque (payShield "PIN under LMK"). */
declare const lmkPinBrand: unique symbol;
export type LmkPin = string & { readonly [lmkPinBrand]: true };

export interface VerifyPinRequest {
  readonly source: PinKeyAndFormat;
  readonly pinBlock: Uint8Array;
  readonly pan: string;
  /** The reference PIN, from `encryptPinUnderLmk` at issuance or PIN change. */
  readonly reference: LmkPin;
}

/** Card verification value of a card we issue (Visa CVV method; payShield CW). */
export interface CardVerificationRequest {
  /** A double-length CVK. */
  readonly cvk: KeyHandle;
  /** 12–19 digits. Never logged. */
  readonly pan: string;
  /** YYMM, as on the track. */
  readonly expiry: string;
  /** 3 digits: the track's for CVV, `000` for CVV2, `999` for iCVV. */
  readonly serviceCode: string;
}

/** A card number kept at rest: AES-GCM under a key derived from the LMK, opaque (`Q` + hex). */
declare const lmkPanBrand: unique symbol;
export type LmkPan = string & { readonly [lmkPanBrand]: true };

export type GeneratePinRequest = GeneratePinOptions &
  (
    | {
        /** 12–19 digits. */
        readonly pan: string;
        readonly lmkPan?: never;
      }
    | {
        /** The card number as kept at rest (`encryptPanUnderLmk`): opened inside the HSM only. */
        readonly lmkPan: LmkPan;
        readonly pan?: never;
      }
  );

/** Data sealed under a data key (AES-GCM, 96-bit IV, 128-bit tag): the card bureau's records. */
export interface SealedData {
  /** `AES-GCM`: NIST SP 800-38D, the tag appended to the ciphertext. */
  readonly format: 'AES-GCM';
  /** Check value of the sealing key (6 hex digits): which key opens it. */
  readonly kcv: string;
  /** 12-byte IV, hex. */
  readonly iv: string;
  /** Ciphertext ‖ 16-byte tag, hex. */
  readonly data: string;
}

export interface SealDataRequest {
  /** A BUREAU key. */
  readonly key: KeyHandle;
  readonly data: Uint8Array;
  /** Authenticated with the data, not enciphered (e.g. the card id a record belongs to). */
  readonly aad?: Uint8Array;
}

export interface OpenSealedDataRequest {
  readonly key: KeyHandle;
  readonly sealed: SealedData;
  readonly aad?: Uint8Array;
}

export interface GeneratePinOptions {
  /** 4–12; default 6. */
  readonly length?: number;
  /**
   * The PIN mailer printer's data key (a ZEK it shares with the HSM): the PIN leaves the HSM only
   * as an ISO format 1 block under this key, for the printer to decipher and print.
   */
  readonly printerKey: KeyHandle;
}

export interface GeneratedPin {
  /** The PIN under the LMK: the reference `verifyPin` checks against. */
  readonly reference: LmkPin;
  /** The PIN for the mailer printer: an ISO 9564 format 1 block under `printerKey`, hex. */
  readonly mailer: string;
}

/** PBOC "one key per transaction" inputs (payments.md §3.2). */
export interface PsamSessionRequest {
  /** The PBOC master key (type PBOC_MK). */
  readonly masterKey: KeyHandle;
  /** 8-byte diversification factors, outermost first (e.g. the PSAM serial). */
  readonly factors: readonly Uint8Array[];
  /** The PSAM's 4-byte random number for this transaction. */
  readonly random: Uint8Array;
  /** The PSAM's transaction counter (2 bytes). */
  readonly counter: number;
}

export interface PsamMacRequest extends PsamSessionRequest {
  readonly algorithm: MacAlgorithm;
  readonly padding?: MacPaddingMethod;
  readonly data: Uint8Array;
  /**
   * The highest counter already accepted from this PSAM (the caller keeps it per PSAM). A counter
   * not above it is a replay and fails with HSM_PSAM_COUNTER_REPLAYED before any MAC is checked.
   */
  readonly lastCounter?: number;
}

export interface VerifyPsamMacRequest extends PsamMacRequest {
  readonly mac: Uint8Array;
}

export interface HsmDiagnostics {
  /** Check value of the LMK (no secret: tells which LMK is loaded). */
  readonly lmkCheckValue: string;
  readonly firmware: string;
}

export interface HsmPort {
  /** One line for logs: kind and LMK check value, masked; never key material. */
  describe(): string;
  diagnostics(): Promise<HsmDiagnostics>;

  generateKey(request: GenerateKeyRequest): Promise<GeneratedKey>;
  /** Forms a key by XOR of custodians' components (each a COMPONENT handle) — key ceremonies. */
  formKeyFromComponents(request: {
    readonly type: KeyType;
    readonly algorithm: KeyAlgorithm;
    readonly components: readonly KeyHandle[];
  }): Promise<KeyInfo>;
  describeKey(key: KeyHandle): Promise<KeyInfo>;
  exportKey(request: ExportKeyRequest): Promise<{ readonly cryptogram: string; readonly kcv: string }>;
  importKey(request: ImportKeyRequest): Promise<KeyInfo>;

  generateMac(request: MacRequest): Promise<Buffer>;
  /** Resolves when the MAC verifies; rejects with HSM_MAC_INVALID when it does not. */
  verifyMac(request: VerifyMacRequest): Promise<void>;

  /** PIN translation TPK → ZPK or ZPK → ZPK; returns the block under the target key. */
  translatePin(request: TranslatePinRequest): Promise<Buffer>;
  /** PIN translation from a DUKPT terminal (BDK + KSN) to a ZPK. */
  translateDukptPin(request: TranslateDukptPinRequest): Promise<Buffer>;
  generateDukptMac(request: DukptMacRequest): Promise<Buffer>;
  verifyDukptMac(request: DukptMacRequest & { readonly mac: Uint8Array }): Promise<void>;
  /** Takes a PIN under a TPK/ZPK and returns it under the LMK, for storage (issuance, PIN change). */
  encryptPinUnderLmk(request: Omit<VerifyPinRequest, 'reference'>): Promise<LmkPin>;
  /** Resolves when the PIN matches the reference; rejects with HSM_PIN_INVALID when not. */
  verifyPin(request: VerifyPinRequest): Promise<void>;
  /** A new random PIN for a card: under the LMK for verification, and for the mailer printer. */
  generatePin(request: GeneratePinRequest): Promise<GeneratedPin>;
  /** Three-digit CVV / CVV2 / iCVV of a card (Visa CVV method under the CVK pair). */
  generateCardVerificationValue(request: CardVerificationRequest): Promise<string>;
  /** A card number for storage (PIN reissue finds it again), under the LMK: see `LmkPan`. */
  encryptPanUnderLmk(pan: string): Promise<LmkPan>;

  /** Seals data under a BUREAU key (random IV per call); at most `sealDataBytesMax` bytes. */
  sealData(request: SealDataRequest): Promise<SealedData>;
  /**
   * Opens sealed data: the console in operator mode only (HSM_OPERATOR_MODE_REQUIRED otherwise,
   * and always over the network), audited. The card bureau opens its file with its own copy of
   * the key; this is the platform's audited way to check one.
   */
  openSealedData(request: OpenSealedDataRequest): Promise<Buffer>;

  /** The PSAM session key for one transaction, as a PSAM_SESSION handle (usable for MACs). */
  derivePsamSessionKey(request: PsamSessionRequest): Promise<KeyInfo>;
  generatePsamMac(request: PsamMacRequest): Promise<Buffer>;
  /** Checks the counter against `lastCounter` (replay), then the MAC with the session key. */
  verifyPsamMac(request: VerifyPsamMacRequest): Promise<void>;
}

/** Named defaults shared by the implementations; the config module may override them. */
export const HSM_DEFAULTS = {
  /** Clear key contexts kept per handle in the software HSM (hot-path cache). */
  keyCacheEntriesMax: 10_000,
  /** Longest MAC input accepted (payShield limits M6 to 32 KB of binary data per message). */
  macDataBytesMax: 32_768,
  /** Longest input `sealData` accepts (one card's bureau record is a few hundred bytes). */
  sealDataBytesMax: 16_384,
} as const;

/** Who is asking: recorded in every audit line; `operatorMode` is the console at a key ceremony. */
export interface HsmCaller {
  /** The authenticated client id (network) or the console / process name (in process). */
  readonly clientId: string;
  /** The authorised operator mode (key ceremony, dual control): forming keys from components. */
  readonly operatorMode?: boolean;
}

/** An HSM that can act for a named caller (the `fixpay hsm` server passes each client's id). */
export interface CallerScopedHsm extends HsmPort {
  /** The same HSM (keys, caches) acting for `caller`. */
  forCaller(caller: HsmCaller): HsmPort;
}
