/**
 * Plays queued audio out in real time, one 20 ms frame per period, for drivers that must not
 * flood the far end (RTP, TCP PCM). The driver calls `due(nowMs)` from one shared ticker.
 */
import { FRAME_MS, FRAME_SAMPLES } from './types';

/** Frames sent at once when the ticker fell behind (bounded catch-up). */
export const MAX_CATCH_UP_FRAMES = 5;

export interface DueFrames {
  readonly frames: Int16Array[];
  /** The first frame starts a talkspurt (RTP marker bit). */
  readonly spurtStart: boolean;
  /** The queue emptied with these frames. */
  readonly drained: boolean;
}

export class AudioPacer {
  private queue: Int16Array = new Int16Array(0);
  private startMs: number | undefined;
  private framesSent = 0;

  get playing(): boolean {
    return this.queue.length > 0;
  }

  enqueue(pcm: Int16Array): void {
    if (pcm.length === 0) return;
    const next = new Int16Array(this.queue.length + pcm.length);
    next.set(this.queue);
    next.set(pcm, this.queue.length);
    this.queue = next;
  }

  clear(): void {
    this.queue = new Int16Array(0);
    this.startMs = undefined;
  }

  due(nowMs: number): DueFrames {
    if (this.queue.length === 0) return { frames: [], spurtStart: false, drained: false };
    let spurtStart = false;
    if (this.startMs === undefined) {
      this.startMs = nowMs;
      this.framesSent = 0;
      spurtStart = true;
    }
    const target = Math.floor((nowMs - this.startMs) / FRAME_MS) + 1;
    const count = Math.min(target - this.framesSent, MAX_CATCH_UP_FRAMES);
    const frames: Int16Array[] = [];
    for (let i = 0; i < count && this.queue.length > 0; i++) {
      const frame = new Int16Array(FRAME_SAMPLES);
      frame.set(this.queue.subarray(0, FRAME_SAMPLES));
      this.queue = this.queue.slice(Math.min(FRAME_SAMPLES, this.queue.length));
      frames.push(frame);
    }
    this.framesSent += frames.length;
    const drained = this.queue.length === 0;
    if (drained) this.startMs = undefined;
    return { frames, spurtStart, drained };
  }
}
