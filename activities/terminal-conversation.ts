/**
 * Terminal conversations (ADR 0018): the menu a terminal downloads, the screens of `listen:
 * { terminal }` prompts and receipts, each fitted to the terminal's device profile by the host.
 * Text is sanitised (no control or bidi characters, card numbers masked) before it is encoded.
 */
import type { PsamMasterKeyLookup } from './hsm';
import { FixpayError } from '../domain/errors';
import type { HsmPort } from '../hsm/port';
import { decodeTlv } from '../gateways/iso8583';
import { encodeMenu, encodeReceipt, encodeScreen, fitText, PROMPT_ID } from '../terminal-protocol/conversation';
import type { InputSpec } from '../terminal-protocol/conversation';
import { buildMenu, menuBlocks } from '../terminal-protocol/menu';
import type { MenuService } from '../terminal-protocol/menu';
import { closeAnswer, openTerminalRequest, requestBytes } from '../terminal-protocol/messages';
import { MENU_BLOCKS_MAX, PROMPT_RESPONSE_CODE } from '../terminal-protocol/spec';
import { activityFailure } from './failure';

/** What the host knows of a terminal's device (from its device profile). */
export interface TerminalDevice {
  readonly profileId: string;
  readonly display: { readonly lines: number; readonly columns: number };
  readonly printer: 'none' | { readonly columns: number };
  readonly menuMemory: { readonly bytes?: number; readonly entries?: number };
}

/** A profile without a `terminal` section: what the demo phones show (docs/protocols/phone-families.md). */
export const DEFAULT_DEVICE: Omit<TerminalDevice, 'profileId'> = {
  display: { lines: 4, columns: 16 },
  printer: 'none',
  menuMemory: { entries: 16 },
};

export interface ConversationActivityDeps {
  readonly hsm: Pick<HsmPort, 'generatePsamMac'>;
  readonly psamMasterKey: PsamMasterKeyLookup;
  /** The terminal's device; undefined for an unknown terminal. */
  readonly device: (terminalId: string) => Promise<TerminalDevice | undefined>;
  /** The live services with a `terminal` block. */
  readonly menuServices: () => Promise<readonly MenuService[]>;
  /** Opens a sealed top-up PIN for the receipt (docs/providers.md §Vouchers); absent: vouchers are refused. */
  readonly openVoucher?: (sealed: string) => string;
}

export interface PromptTerminalInput {
  readonly request?: string;
  readonly terminalId: string;
  readonly prompt?: string;
  readonly input?: {
    readonly kind?: string;
    readonly label?: string;
    readonly minLength?: number;
    readonly maxLength?: number;
    readonly min?: number;
    readonly max?: number;
    readonly masked?: boolean;
    /** `1=YES,2=NO`. */
    readonly choices?: string;
  };
  /** Set by the interpreter. */
  readonly promptId: string;
  readonly timeoutMs: number;
}

export interface ConversationActivities {
  promptTerminal(input: PromptTerminalInput): Promise<{ response: string }>;
  buildTerminalMenu(input: {
    terminalId: string;
    menuVersion?: string;
    /** The block the phone asks for (multi-block menus); '' or absent: 1. */
    block?: string;
  }): Promise<{ version: string; changed: boolean; entries: number; blocks: number; field59: string }>;
  formatReceipt(input: {
    terminalId: string;
    lines: readonly string[];
    /** A sealed top-up PIN: opened here only, printed as `PIN <pin>` after the lines. */
    voucher?: string;
  }): Promise<{ field59: string; lines: number }>;
}

const refuse = (detail: string): FixpayError => new FixpayError('SVC_INPUT_INVALID', detail);

/** The input spec of a prompt from its definition arguments; throws SVC_INPUT_INVALID. */
export function promptInput(raw: PromptTerminalInput['input']): InputSpec {
  const kind = raw?.kind ?? 'digits';
  if (kind !== 'digits' && kind !== 'amount' && kind !== 'choice') throw refuse(`prompt input kind ${kind}`);
  const choices = (raw?.choices ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '')
    .map((c) => {
      const [key = '', ...label] = c.split('=');
      if (!/^[0-9]$/.test(key)) throw refuse(`prompt choice ${key}`);
      return { key, label: label.join('=') };
    });
  if (kind === 'choice' && choices.length === 0) throw refuse('a choice prompt needs choices');
  const min = kind === 'amount' ? raw?.min : (raw?.minLength ?? 1);
  const max = kind === 'amount' ? raw?.max : (raw?.maxLength ?? 32);
  return {
    name: 'reply',
    kind,
    label: raw?.label ?? '',
    ...(min === undefined || kind === 'choice' ? {} : { min }),
    ...(max === undefined || kind === 'choice' ? {} : { max }),
    ...(raw?.masked === true ? { masked: true } : {}),
    ...(choices.length === 0 ? {} : { choices }),
  };
}

export function createConversationActivities(deps: ConversationActivityDeps): ConversationActivities {
  const device = async (terminalId: string): Promise<TerminalDevice> => {
    const d = await deps.device(terminalId);
    if (d === undefined) throw new FixpayError('NOT_FOUND', `terminal ${terminalId} is not registered`);
    return d;
  };
  const sign = async (request: string, responseCode: string, field59: Uint8Array): Promise<Buffer> => {
    const opened = openTerminalRequest(requestBytes(request));
    const masterKey = await deps.psamMasterKey(opened.psam.serial);
    if (masterKey === undefined) throw new FixpayError('NOT_FOUND', 'PSAM has no master key');
    return closeAnswer(opened, { responseCode, field59Hex: Buffer.from(field59).toString('hex') }, (data) =>
      deps.hsm.generatePsamMac({
        masterKey,
        factors: [Buffer.from(opened.psam.serial, 'hex')],
        random: Buffer.from(opened.psam.random, 'hex'),
        counter: opened.psam.counter,
        algorithm: 'unionpay-ecb',
        data,
      }),
    );
  };
  return {
    async promptTerminal(input) {
      try {
        if (input.request === undefined || input.request === '')
          throw refuse('promptTerminal needs the request that opened the conversation (with: request)');
        if (!PROMPT_ID.test(input.promptId)) throw refuse('prompt id');
        const d = await device(input.terminalId);
        const spec = promptInput(input.input);
        // The last display line is the input line: the text gets the others.
        const lines = fitText((input.prompt ?? '').split('\n'), d.display.columns, Math.max(1, d.display.lines - 1));
        const field59 = encodeScreen({
          promptId: input.promptId,
          lines,
          input: spec,
          timeoutSeconds: Math.ceil(input.timeoutMs / 1000),
        });
        const bytes = await sign(input.request, PROMPT_RESPONSE_CODE, field59);
        return { response: bytes.toString('hex') };
      } catch (e) {
        throw activityFailure(e);
      }
    },
    async buildTerminalMenu(input) {
      try {
        const phoneVersion = input.menuVersion === '' ? undefined : input.menuVersion;
        const d = await device(input.terminalId);
        const menu = buildMenu(await deps.menuServices(), {
          profileId: d.profileId,
          displayColumns: d.display.columns,
          menuMemory: d.menuMemory,
        });
        const asked = input.block === undefined || input.block === '' ? 1 : Number(input.block);
        if (!Number.isInteger(asked) || asked < 1 || asked > MENU_BLOCKS_MAX)
          throw new FixpayError('BAD_REQUEST', `menu block must be 1..${MENU_BLOCKS_MAX}`);
        const blocks = menuBlocks(menu.entries);
        const field59 = encodeMenu(menu, phoneVersion, asked, blocks);
        return {
          version: menu.version,
          changed: phoneVersion !== menu.version,
          entries: menu.entries.length,
          blocks: blocks.length,
          field59: Buffer.from(field59).toString('hex'),
        };
      } catch (e) {
        throw activityFailure(e);
      }
    },
    async formatReceipt(input) {
      try {
        const d = await device(input.terminalId);
        if (d.printer === 'none') return { field59: '', lines: 0 };
        const lines = fitText(input.lines, d.printer.columns);
        const sealed = input.voucher ?? '';
        if (sealed !== '') {
          if (deps.openVoucher === undefined)
            throw new FixpayError('PROVIDER_REJECTED', 'no voucher key to open the PIN');
          // Not through fitText: a PIN is all digits and would be masked as a card number.
          const pin = deps.openVoucher(sealed);
          if (!/^[0-9A-Za-z-]{1,40}$/.test(pin)) throw new FixpayError('PROVIDER_REJECTED', 'the voucher is not a PIN');
          const perLine = Math.max(1, d.printer.columns - 4);
          for (let i = 0; i < pin.length; i += perLine)
            lines.push(`${i === 0 ? 'PIN ' : '    '}${pin.slice(i, i + perLine)}`);
        }
        const field59 = encodeReceipt(lines);
        // A receipt is a list of lines: check it reads back before it goes out.
        decodeTlv(field59);
        return { field59: Buffer.from(field59).toString('hex'), lines: lines.length };
      } catch (e) {
        throw activityFailure(e);
      }
    },
  };
}
