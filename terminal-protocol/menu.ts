/**
 * A terminal's menu (ADR 0018): built from the live services that carry a `terminal` block and
 * from the device profile of the phone — which services it may run, how much menu it can hold,
 * how wide its display is. Pure: the caller reads the registry and the profile.
 */
import { createHash } from 'node:crypto';
import { encodeMenuEntry, fitText, ITEM_CODE } from './conversation';
import type { InputSpec, Menu, MenuEntry } from './conversation';
import { SERVICE_DATA_BYTES_MAX } from './spec';

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

/** Bytes of field 59 a menu answer spends besides its entries (the version item). */
const MENU_OVERHEAD_BYTES = 24;

const cut = (text: string, columns: number): string => fitText([text], columns, 1)[0] ?? '';

/**
 * The menu for one device: services the profile may run, in menu-path order, cut to the display
 * width, as many as fit the profile's menu memory (entries and bytes) and one field 59. The
 * version is a hash of what the phone receives, so two profiles that see the same menu share it.
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
  const maxBytes =
    Math.min(device.menuMemory.bytes ?? Number.MAX_SAFE_INTEGER, SERVICE_DATA_BYTES_MAX) - MENU_OVERHEAD_BYTES;
  const entries: MenuEntry[] = [];
  const encoded: Buffer[] = [];
  let bytes = 0;
  for (const e of candidates) {
    if (entries.length >= maxEntries) break;
    const one = Buffer.from(encodeMenuEntry(e));
    // The entry's own tag and length (DF40 + up to 3 length bytes) count too.
    const size = one.length + 5;
    if (bytes + size > maxBytes) continue;
    bytes += size;
    entries.push(e);
    encoded.push(one);
  }
  const hash = createHash('sha256');
  for (const b of encoded) hash.update(b);
  return { version: hash.digest('hex').slice(0, 16), entries };
}
