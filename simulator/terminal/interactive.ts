/**
 * Interactive mode: a person drives the simulated POS phone from a terminal window. A menu
 * (readline), the phone's display drawn as a box, amount entry, and PIN entry masked with `*`
 * (raw mode on a TTY; piped input is read line by line without echo).
 */
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { maskPan } from '../../domain/masking';
import type { InputSpec } from '../../terminal-protocol/conversation';
import type { TerminalConfig } from './config';
import { PushReceiver } from './push-receiver';
import type { PushListenOptions } from './push-receiver';
import { parseAmount } from './script';
import { DISPLAY_COLUMNS, formatAmount, PosTerminal } from './terminal';
import type { TerminalRunOptions, TransactionResult } from './terminal';

export interface InteractiveIo {
  readonly input: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  readonly output: Writable & { isTTY?: boolean };
}

/** Draws the display as a box of DISPLAY_COLUMNS columns. */
export function renderDisplay(lines: readonly string[]): string {
  const bar = `+${'-'.repeat(DISPLAY_COLUMNS + 2)}+`;
  return [bar, ...lines.map((l) => `| ${l.padEnd(DISPLAY_COLUMNS)} |`), bar].join('\n');
}

export const MENU =
  '[1] Purchase  [2] Balance  [3] Sign on  [4] Hang up  [5] Repeat last  [6] Services  [7] Update menu  [0] Exit';

/** Longest PIN the pad takes. */
const PIN_DIGITS_MAX = 12;

/** Line input: one readline for piped input; a fresh one per question on a TTY (so raw PIN entry can take over). */
class Keys {
  private piped: readline.Interface | undefined;
  private readonly queue: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private closed = false;

  constructor(private readonly io: InteractiveIo) {
    if (io.input.isTTY !== true) {
      this.piped = readline.createInterface({ input: io.input, terminal: false });
      this.piped.on('line', (line) => {
        const w = this.waiter;
        this.waiter = undefined;
        if (w !== undefined) w(line);
        else this.queue.push(line);
      });
      this.piped.on('close', () => {
        this.closed = true;
        this.waiter?.(undefined);
      });
    }
  }

  /** Resolves with the next line, or undefined at end of input. */
  ask(prompt: string): Promise<string | undefined> {
    if (this.piped !== undefined) {
      this.io.output.write(prompt);
      const queued = this.queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (this.closed) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        this.waiter = resolve;
      });
    }
    const rl = readline.createInterface({ input: this.io.input, output: this.io.output, terminal: true });
    return new Promise((resolve) => {
      let answered = false;
      rl.question(prompt, (answer) => {
        answered = true;
        rl.close();
        resolve(answer);
      });
      rl.on('close', () => {
        if (!answered) resolve(undefined);
      });
    });
  }

  /** Digits only, echoed as `*`; backspace edits; Enter ends; Ctrl-C gives undefined. */
  askHidden(prompt: string): Promise<string | undefined> {
    const { input, output } = this.io;
    if (this.piped !== undefined || input.setRawMode === undefined) return this.ask(prompt);
    output.write(prompt);
    input.setRawMode(true);
    input.resume();
    return new Promise((resolve) => {
      let pin = '';
      const finish = (value: string | undefined): void => {
        input.off('data', onData);
        input.setRawMode?.(false);
        input.pause();
        output.write('\n');
        resolve(value);
      };
      const onData = (chunk: Buffer | string): void => {
        for (const ch of chunk.toString()) {
          if (ch === '\r' || ch === '\n') return finish(pin);
          if (ch === '\u0003' || ch === '\u0004') return finish(undefined);
          if ((ch === '\u007f' || ch === '\b') && pin.length > 0) {
            pin = pin.slice(0, -1);
            output.write('\b \b');
          } else if (/^\d$/.test(ch) && pin.length < PIN_DIGITS_MAX) {
            pin += ch;
            output.write('*');
          }
        }
      };
      input.on('data', onData);
    });
  }

  close(): void {
    this.piped?.close();
  }
}

/** Draws printed receipt lines as a paper strip. */
export function renderReceipt(lines: readonly string[]): string {
  const width = Math.max(0, ...lines.map((l) => l.length));
  const edge = `~${'~'.repeat(width + 2)}~`;
  return [edge, ...lines.map((l) => `  ${l.padEnd(width)}  `), edge].join('\n');
}

/** Asks for one menu input the way the phone's keypad would; undefined at end of input. */
async function askInput(keys: Keys, input: InputSpec): Promise<string | undefined> {
  const label = input.label.trim() === '' ? input.name : input.label;
  if (input.kind === 'choice') {
    const choices = (input.choices ?? []).map((c) => `${c.key}=${c.label}`).join(' ');
    return (await keys.ask(`${label} (${choices}): `))?.trim();
  }
  if (input.kind === 'amount') {
    const text = await keys.ask(`${label} (e.g. 12.50): `);
    if (text === undefined) return undefined;
    try {
      return String(parseAmount(text, input.name));
    } catch {
      return text.trim(); // the host refuses it (30) and says so
    }
  }
  const range = input.min === undefined ? '' : ` (${input.min}-${input.max ?? input.min} digits)`;
  return input.masked === true ? keys.askHidden(`${label}${range}: `) : (await keys.ask(`${label}${range}: `))?.trim();
}

/**
 * Services from the menu the host downloaded (ADR 0018): pick one, key its inputs, answer its
 * screens (a choice key, digits; empty cancels, `h` hangs up), see the receipt printed.
 * Resolves with a status line, or undefined at end of input.
 */
async function menuService(terminal: PosTerminal, keys: Keys, output: Writable): Promise<string | undefined> {
  if (!terminal.signedOn) return 'Sign on first ([3])';
  if (terminal.menu === undefined) {
    const r = await terminal.downloadMenu();
    if (r.outcome !== 'approved') return `menu: ${r.outcome}`;
  }
  const entries = terminal.menu?.entries ?? [];
  if (entries.length === 0) return 'The host offers no services to this phone';
  entries.forEach((e, i) => output.write(`  [${i + 1}] ${e.path.join(' > ')}\n`));
  const pick = await keys.ask('Service: ');
  if (pick === undefined) return undefined;
  const entry = entries[Number(pick.trim()) - 1];
  if (entry === undefined) return `No service ${pick.trim().slice(0, 10)}`;
  const inputs: Record<string, string> = {};
  for (const input of entry.inputs) {
    const value = await askInput(keys, input);
    if (value === undefined) return undefined;
    inputs[input.name] = value;
  }
  let pin: string | undefined;
  if (entry.card === true) {
    pin = await keys.askHidden('PIN: ');
    if (pin === undefined) return undefined;
  }
  const r = await terminal.service(
    entry.code,
    inputs,
    async (screen) => {
      const spec = screen.input;
      const hint = spec.choices?.map((c) => `${c.key}=${c.label}`).join(' ') ?? spec.label;
      const answer = await keys.ask(`${hint} (empty: cancel, h: hang up): `);
      if (answer === undefined || answer.trim().toLowerCase() === 'h') return 'hang-up';
      if (answer.trim() === '') return 'cancel';
      return { key: answer.trim() };
    },
    pin === undefined ? {} : { pin },
  );
  if (r.receipt.length > 0) output.write(`${renderReceipt(r.receipt)}\n`);
  return [`${entry.title}: ${r.outcome}`, r.responseCode === undefined ? '' : `39=${r.responseCode}`]
    .filter((p) => p !== '')
    .join(' | ');
}

function summary(r: TransactionResult): string {
  const parts = [`${r.kind}${r.repeated ? ' (repeat)' : ''}: ${r.outcome}`];
  if (r.stan !== undefined) parts.push(`STAN ${r.stan}`);
  if (r.responseCode !== undefined) parts.push(`39=${r.responseCode}`);
  if (r.failure !== undefined) parts.push(`${r.failure.code} ${r.failure.codeName}`);
  parts.push(`line ${r.lineTimeMs} ms`, `wall ${r.wallTimeMs} ms`, `retransmissions ${r.retransmissions}`);
  return parts.join(' | ');
}

export interface InteractiveOptions extends TerminalRunOptions {
  /** Take push calls on the phone's own line (overrides the config's `push`). */
  readonly push?: PushListenOptions;
  /** Told the port once the push line listens (the CLI prints it). */
  readonly onPushListening?: (o: PushListenOptions & { readonly number: string }) => void;
}

/**
 * Runs the menu until `0`, Ctrl-C/Ctrl-D or end of input; hangs up on the way out. Resolves when
 * done. With a push line, a push call rings the phone at any time: the display shows RING, then
 * the notice, and the status line says it was acknowledged.
 */
export async function runInteractive(
  config: TerminalConfig,
  options: InteractiveOptions,
  io: InteractiveIo = { input: process.stdin, output: process.stdout },
): Promise<void> {
  const { output } = io;
  const tty = output.isTTY === true;
  let status = '';
  const draw = (lines: readonly string[]): void => {
    if (tty) output.write('\x1b[2J\x1b[H');
    output.write(`${renderDisplay(lines)}\n`);
    if (status !== '') output.write(`${status}\n`);
  };
  const terminal = new PosTerminal(config, { ...options, onDisplay: draw });
  const keys = new Keys(io);
  const card = maskPan(config.card.track2.pan);
  const listen = options.push ?? config.push;
  const number = options.callerNumber ?? config.line.callerNumber;
  const receiver =
    listen === undefined
      ? undefined
      : new PushReceiver(number, terminal.profile, listen, {
          show: (lines) => terminal.show(...lines),
          busy: () => terminal.connected,
          onNotice: (p) => {
            status = `push${p.sender === undefined ? '' : ` from ${p.sender}`} received and acknowledged`;
            draw(terminal.display);
            output.write(`${MENU}\n> `);
          },
          onGarbled: () => {
            status = 'push garbled: not acknowledged';
            draw(terminal.display);
            output.write(`${MENU}\n> `);
          },
        });
  terminal.show('FIXPAY POS', config.terminalId, terminal.signedOn ? 'READY' : 'PLEASE SIGN ON');
  if (receiver !== undefined && listen !== undefined) {
    const port = await receiver.start();
    output.write(`push: listening on ${listen.transport} ${listen.host}:${port} for ${number}\n`);
    options.onPushListening?.({ ...listen, port, number });
  }
  try {
    for (;;) {
      output.write(`${MENU}\n`);
      const choice = (await keys.ask('> '))?.trim();
      if (choice === undefined || choice === '0') break;
      let result: TransactionResult | undefined;
      if (choice === '1') {
        const text = await keys.ask('Amount (e.g. 12.50): ');
        if (text === undefined) break;
        let amountMinor: number;
        try {
          amountMinor = parseAmount(text, 'amount');
        } catch {
          status = 'Amount must look like 12.50';
          terminal.show('PURCHASE', 'BAD AMOUNT');
          continue;
        }
        terminal.show('PURCHASE', formatAmount(amountMinor), 'SWIPE CARD', card.slice(-DISPLAY_COLUMNS));
        const pin = await keys.askHidden('PIN: ');
        if (pin === undefined) break;
        result = await terminal.purchase(amountMinor, pin === '' ? undefined : pin);
      } else if (choice === '2') {
        terminal.show('BALANCE', 'SWIPE CARD', card.slice(-DISPLAY_COLUMNS));
        const pin = await keys.askHidden('PIN: ');
        if (pin === undefined) break;
        result = await terminal.balance(pin === '' ? undefined : pin);
      } else if (choice === '3') result = await terminal.signOn();
      else if (choice === '4') await terminal.hangUp();
      else if (choice === '5') result = await terminal.repeatLast();
      else if (choice === '6') {
        status = '';
        const line = await menuService(terminal, keys, output);
        if (line === undefined) break;
        status = line;
        draw(terminal.display);
        continue;
      } else if (choice === '7') {
        if (!terminal.signedOn) status = 'Sign on first ([3])';
        else {
          const r = await terminal.downloadMenu();
          status = `menu: ${r.outcome}${r.changed ? ', updated' : ', unchanged'} (${terminal.menu?.entries.length ?? 0} services)`;
        }
        draw(terminal.display);
        continue;
      } else {
        status = `Unknown choice ${choice.slice(0, 10)}`;
        draw(terminal.display);
        continue;
      }
      status = result === undefined ? '' : summary(result);
      draw(terminal.display);
    }
  } finally {
    keys.close();
    await terminal.hangUp();
    await receiver?.stop();
  }
}
