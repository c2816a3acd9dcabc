/** A random id; `crypto.randomUUID` exists on secure pages only (https, localhost). */
export function newKey(): string {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
}
