/** On-hook (caller-ID style) data messages for notices to terminals: see docs/protocols/callerid.md. */
export * from './message';
export * from './onhook';
