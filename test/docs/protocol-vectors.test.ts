/**
 * The terminal protocol documents are a contract: every vector block in docs/protocols/*.md is
 * rebuilt from the code (`protocol-vectors.ts`) and must match byte for byte. After a deliberate
 * change, `UPDATE_PROTOCOL_VECTORS=1 npx jest --selectProjects unit --testPathPatterns
 * protocol-vectors` rewrites the blocks; review the diff like code.
 *
 * The documents must also stand alone: nothing under docs/ may point at documents outside the
 * repository.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PROTOCOL_VECTORS } from './protocol-vectors';

const ROOT = join(__dirname, '..', '..');
const PROTOCOL_DOCS = join(ROOT, 'docs', 'protocols');
// The content may not contain another marker: an empty or unterminated block never swallows the next.
const BLOCK = /<!-- vector:begin ([a-z0-9-]+) -->\n((?:(?!<!-- vector:)[\s\S])*)<!-- vector:end -->/g;
const UPDATE = process.env.UPDATE_PROTOCOL_VECTORS === '1';

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? markdownFiles(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : [],
  );
}

interface Found {
  readonly file: string;
  readonly name: string;
  /** The lines between the markers, each ending with a newline. */
  readonly text: string;
}

function blocks(file: string): Found[] {
  return [...readFileSync(file, 'utf8').matchAll(BLOCK)].map((m) => ({ file, name: m[1] ?? '', text: m[2] ?? '' }));
}

/** Rewrites every block named `name` in `file` with `text`. */
function rewrite(file: string, name: string, text: string): void {
  const content = readFileSync(file, 'utf8').replace(BLOCK, (whole, found: string) =>
    found === name ? `<!-- vector:begin ${name} -->\n${text}<!-- vector:end -->` : whole,
  );
  writeFileSync(file, content);
}

describe('protocol documents vs code', () => {
  const files = markdownFiles(PROTOCOL_DOCS);
  const found = files.flatMap(blocks);

  it('every vector block names a known vector', () => {
    const unknown = found.filter((b) => PROTOCOL_VECTORS[b.name] === undefined).map((b) => `${b.name} in ${b.file}`);
    expect(unknown).toEqual([]);
  });

  it('every vector the code builds is shown in the documents', () => {
    const shown = new Set(found.map((b) => b.name));
    expect(Object.keys(PROTOCOL_VECTORS).filter((n) => !shown.has(n))).toEqual([]);
  });

  it('begin and end markers pair up', () => {
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const begins = text.match(/<!-- vector:begin /g)?.length ?? 0;
      const ends = text.match(/<!-- vector:end -->/g)?.length ?? 0;
      expect({ file: relative(ROOT, file), begins }).toEqual({ file: relative(ROOT, file), begins: ends });
      expect(blocks(file)).toHaveLength(begins);
    }
  });

  it.each(Object.keys(PROTOCOL_VECTORS))('vector %s matches the code', async (name) => {
    const build = PROTOCOL_VECTORS[name];
    if (build === undefined) throw new Error(name);
    // Blank lines around the content, as Prettier lays out Markdown after an HTML comment.
    const expected = `\n${await build()}\n\n`;
    for (const b of found.filter((f) => f.name === name)) {
      if (UPDATE && b.text !== expected) {
        rewrite(b.file, name, expected);
        continue;
      }
      expect({ file: relative(ROOT, b.file), text: b.text }).toEqual({ file: relative(ROOT, b.file), text: expected });
    }
  });
});

describe('docs stand alone', () => {
  // Paths and names of documents that live outside the repository.
  const OUTSIDE = [/\/work\//, /\.\.\/shared/, /\bshared\//, /\breference\/[a-z-]+\.md/, /\bpayments\.md/, /\bfsk\.md/];

  it('no document under docs/ cites a document outside the repository', () => {
    const cited = markdownFiles(join(ROOT, 'docs')).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .flatMap((line, i) =>
          OUTSIDE.some((re) => re.test(line)) ? [`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`] : [],
        ),
    );
    expect(cited).toEqual([]);
  });
});
