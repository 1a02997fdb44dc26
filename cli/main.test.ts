import { Command } from 'commander';
import { join } from 'node:path';
import { buildProgram, commandFiles, filesFor } from './main';
import type { CommandModule } from './main';

const files = commandFiles();
const base = (f: string): string => f.replace(/\.(ts|js)$/, '');

describe('fixpay command discovery', () => {
  it('finds the command modules and leaves tests out', () => {
    expect(files).toContain('ops.ts');
    expect(files).toContain('sim-bank.ts');
    expect(files.some((f) => f.includes('.test.'))).toBe(false);
  });

  it.each(files)('%s adds only the top-level command its file name says', (file) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the discovery under test
    const mod = require(join(__dirname, 'commands', file)) as CommandModule;
    const program = new Command('fixpay');
    mod.register(program);
    const names = program.commands.map((c) => c.name());
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(base(file) === name || base(file).startsWith(`${name}-`)).toBe(true);
  });

  it('loads only the modules a command line names', () => {
    const argv = (...words: string[]): string[] => ['node', 'fixpay', ...words];
    expect(filesFor(argv('ops', 'runs', '--json'), files)).toEqual(['ops.ts']);
    expect(filesFor(argv('sim', 'bank'), files)).toEqual(files.filter((f) => f.startsWith('sim-')));
    expect(filesFor(argv('access-node'), files)).toEqual(['access-node.ts']);
    // no word, help, or a word no file names: all of them (help lists every command)
    expect(filesFor(argv(), files)).toEqual(files);
    expect(filesFor(argv('--help'), files)).toEqual(files);
    expect(filesFor(argv('help', 'ops'), files)).toEqual(files);
    expect(filesFor(argv('no-such-command'), files)).toEqual(files);
  });

  it('a program built for one command has that command with its sub-commands', () => {
    const program = buildProgram(['node', 'fixpay', 'sim', 'terminal']);
    expect(program.commands.map((c) => c.name())).toEqual(['sim']);
    const sim = program.commands[0]!;
    expect(sim.commands.map((c) => c.name())).toEqual(expect.arrayContaining(['bank', 'terminal', 'biller']));
  });

  it('the full program has every top-level command once', () => {
    const names = buildProgram().commands.map((c) => c.name());
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['dev', 'ops', 'sim', 'core', 'hsm', 'worker', 'definitions']));
  });
});
