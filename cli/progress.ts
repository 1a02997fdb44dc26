/**
 * Progress for long work: a spinner line on a terminal, plain lines elsewhere (CI logs).
 */
export interface Spinner {
  update(detail: string): void;
  done(message: string): void;
  fail(message: string): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function spinner(label: string, stream: NodeJS.WriteStream = process.stderr): Spinner {
  const tty = stream.isTTY;
  let detail = '';
  let frame = 0;
  const started = Date.now();
  const render = (): void => {
    const secs = ((Date.now() - started) / 1000).toFixed(0);
    const width = Math.max(20, (stream.columns || 80) - label.length - 12);
    stream.write(`\r\x1b[K${FRAMES[frame++ % FRAMES.length] ?? ''} ${label} ${secs}s ${detail.slice(0, width)}`);
  };
  const timer = tty ? setInterval(render, 100) : undefined;
  if (!tty) stream.write(`${label}...\n`);
  const finish = (mark: string, message: string): void => {
    if (timer !== undefined) clearInterval(timer);
    stream.write(tty ? `\r\x1b[K${mark} ${message}\n` : `${mark} ${message}\n`);
  };
  return {
    update: (d) => {
      detail = d;
    },
    done: (m) => finish('✔', m),
    fail: (m) => finish('✖', m),
  };
}

/** A determinate progress bar: `[#####.....] 50% label`. */
export function progressBar(
  total: number,
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): (done: number) => void {
  let last = -1;
  return (done: number) => {
    const pct = total === 0 ? 100 : Math.floor((done / total) * 100);
    if (pct === last) return;
    last = pct;
    const filled = Math.round(pct / 5);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(20 - filled)}] ${String(pct).padStart(3)}% ${label}`;
    if (stream.isTTY) stream.write(`\r\x1b[K${line}${done >= total ? '\n' : ''}`);
    else if (pct % 25 === 0) stream.write(`${line}\n`);
  };
}
