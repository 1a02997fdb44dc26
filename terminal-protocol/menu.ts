/**
 * A terminal's menu (ADR 0018): built from the live services that carry a `terminal` block and
 * from the device profile of the phone — which services it may run, how much menu it can hold,
 * how wide its display is. Pure: the caller reads the registry and the profile.
 */
import { createHash } from 'node:crypto';
import { encodeMenuEntry, fitText, ITEM_CODE } from './conversation';
import type { InputSpec, Menu, MenuEntry } from './conversation';
import { MENU_BLOCKS_MAX, SERVICE_DATA_BYTES_MAX } from './spec';

/** A live service as the menu sees it (the plan's `terminal` block and its service id). */
export interface MenuService {
  readonly serviceId: string;
  readonly menu: readonly string[];
  readonly title: string;
  readonly inputs: readonly InputSpec[];
  /** Profiles allowed; null: every profile. */
  readonly profiles: readonly string[] | null;
  /** The request carries the card and its PIN (ADR 0024). */
  readonly card?: boolean;
}

/** What the menu needs from a device profile. */
export interface MenuDevice {
  readonly profileId: string;
  readonly displayColumns: number;
  readonly menuMemory: { readonly bytes?: number; readonly entries?: number };
}

/** Bytes of field 59 a menu answer spends besides its entries (version, block and block count items). */
export const MENU_OVERHEAD_BYTES = 32;
/** Bytes of entries one block (one field 59) carries at most. */
export const MENU_BLOCK_BYTES = SERVICE_DATA_BYTES_MAX - MENU_OVERHEAD_BYTES;

/** The entry's size in a menu answer: its encoding, its own tag and length (DF40 + up to 3 length bytes). */
const entrySize = (e: MenuEntry): number => encodeMenuEntry(e).length + 5;

/**
 * The menu's entries in download blocks, in order, each fitting one field 59 (ADR 0018,
 * multi-block menus). A menu that fits one field 59 is one block.
 */
export function menuBlocks(entries: readonly MenuEntry[]): MenuEntry[][] {
  const blocks: MenuEntry[][] = [[]];
  let bytes = 0;
  for (const e of entries) {
    const size = entrySize(e);
    const current = blocks[blocks.length - 1] ?? [];
    if (bytes + size > MENU_BLOCK_BYTES && current.length > 0) {
      blocks.push([e]);
      bytes = size;
    } else {
      current.push(e);
      bytes += size;
    }
  }
  return blocks;
}

const cut = (text: string, columns: number): string => fitText([text], columns, 1)[0] ?? '';

/**
 * The menu for one device: services the profile may run, in menu-path order, cut to the display
 * width, as many as fit the profile's menu memory (entries and bytes). A profile that states its
 * memory in bytes may get a menu of up to MENU_BLOCKS_MAX blocks (downloaded block by block); one
 * that does not holds one field 59. The version is a hash of what the phone receives, so two
 * profiles that see the same menu share it.
 */
export function buildMenu(services: readonly MenuService[], device: MenuDevice): Menu {
  const columns = Math.max(1, device.displayColumns);
  const candidates = services
    .filter((s) => ITEM_CODE.test(s.serviceId) && (s.profiles === null || s.profiles.includes(device.profileId)))
    .map((s): MenuEntry => ({
      code: s.serviceId,
      path: s.menu.map((p) => cut(p, columns)),
      title: cut(s.title, columns),
      inputs: s.inputs.map((i) => ({ ...i, label: cut(i.label, columns) })),
      ...(s.card === true ? { card: true } : {}),
    }))
    .sort((a, b) => {
      const pa = a.path.join('/');
      const pb = b.path.join('/');
      return pa < pb ? -1 : pa > pb ? 1 : a.code < b.code ? -1 : a.code > b.code ? 1 : 0;
    });
  const maxEntries = device.menuMemory.entries ?? Number.MAX_SAFE_INTEGER;
  const memory = device.menuMemory.bytes;
  const maxBlocks = memory === undefined ? 1 : MENU_BLOCKS_MAX;
  const maxBytes = memory === undefined ? MENU_BLOCK_BYTES : memory - MENU_OVERHEAD_BYTES;
  const entries: MenuEntry[] = [];
  const encoded: Buffer[] = [];
  let bytes = 0;
  // Blocks filled so far, and the bytes of the last one: an entry that fits neither the last block
  // nor a new one (blocks all used) is left out, as one beyond the memory is.
  let blocks = 1;
  let blockBytes = 0;
  for (const e of candidates) {
    if (entries.length >= maxEntries) break;
    const one = Buffer.from(encodeMenuEntry(e));
    const size = entrySize(e);
    if (bytes + size > maxBytes || size > MENU_BLOCK_BYTES) continue;
    if (blockBytes + size > MENU_BLOCK_BYTES) {
      if (blocks >= maxBlocks) continue;
      blocks++;
      blockBytes = 0;
    }
    blockBytes += size;
    bytes += size;
    entries.push(e);
    encoded.push(one);
  }
  const hash = createHash('sha256');
  for (const b of encoded) hash.update(b);
  return { version: hash.digest('hex').slice(0, 16), entries };
}
