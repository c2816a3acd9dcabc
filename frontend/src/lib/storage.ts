/**
 * The browser's storage, or one kept in memory for this page when the browser refuses it: with site data
 * blocked, merely reading `window.localStorage` throws, and the app would not start at all. Without it,
 * uploads and the sign-in are simply not remembered past the page.
 */
const inMemory = new Map<string, Storage>()

export function browserStorage(kind: 'localStorage' | 'sessionStorage' = 'localStorage'): Storage {
  try {
    const storage = window[kind]
    storage.getItem('happypath.probe') // some browsers refuse only the first use
    return storage
  } catch {
    let kept = inMemory.get(kind) // one per kind for the page, whoever asks
    if (!kept) inMemory.set(kind, (kept = new MemoryStorage()))
    return kept
  }
}


class MemoryStorage implements Storage {
  private readonly items = new Map<string, string>()

  get length(): number {
    return this.items.size
  }

  clear(): void {
    this.items.clear()
  }

  getItem(key: string): string | null {
    return this.items.get(key) ?? null
  }

  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null
  }

  removeItem(key: string): void {
    this.items.delete(key)
  }

  setItem(key: string, value: string): void {
    this.items.set(key, String(value))
  }
}
