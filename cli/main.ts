/**
 * The `fixpay` command. Each concern adds its sub-commands as a module in `cli/commands/` that
 * exports `register(program)`; they are discovered here so concerns do not edit one shared list.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

function isCommandModule(value: unknown): value is CommandModule {
  return (
    typeof value === 'object' && value !== null && typeof (value as { register?: unknown }).register === 'function'
  );
}

/**
 * Returns the sub-command group `name` (e.g. `sim`, `definitions`), creating it on first use, so
 * several command modules can add commands to one group.
 */
export function commandGroup(program: Command, name: string, description: string): Command {
  const existing = program.commands.find((c) => c.name() === name);
  return existing ?? program.command(name).description(description);
}

/** Builds the program with every command module registered. */
export function buildProgram(): Command {
  const program = new Command('fixpay')
    .description('fixpay: fixed-line payment platform (channel engine, services as data, HSM, card network)')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  const dir = join(__dirname, 'commands');
  const files = readdirSync(dir)
    .filter((f) => /\.(ts|js)$/.test(f) && !/\.(test|d)\.(ts|js)$/.test(f))
    .sort();
  for (const file of files) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- command discovery
    const mod: unknown = require(join(dir, file));
    if (!isCommandModule(mod)) throw new Error(`cli/commands/${file} does not export register(program)`);
    mod.register(program);
  }
  return program;
}

/** Entry point used by bin/fixpay.js. */
export async function main(argv: readonly string[]): Promise<void> {
  await buildProgram().parseAsync([...argv]);
}
