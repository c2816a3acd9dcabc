/**
 * Photos picked but not yet in storage, kept in IndexedDB (photos are too big for localStorage). A phone
 * discards a tab left in the background, and a person closes one: without this, the photos still waiting
 * or being sent would be gone without a word. The next visit of the same person offers them again.
 *
 * A tab holds a Web Lock for as long as it lives, and each kept file names the tab that picked it: another
 * tab open at the same time leaves those files alone (it would send them a second time).
 */
import { createStore, del, entries, set } from 'idb-keyval'

export interface UnsentFile {
  key: string
  placeId: string
  /** The `sub` of who picked it: only they are offered it again. */
  owner: string
  file: File
  /** Epoch ms. */
  pickedAt: number
  /** Its place among the files picked in its tab (several are picked in the same millisecond). */
  order: number
  /** The Web Lock name of the tab that picked it. */
  tab: string
}

export interface UnsentFiles {
  keep(entry: UnsentFile): Promise<void>
  forget(key: string): Promise<void>
  /**
   * The files of `owner` that no open tab is sending, picked in the last KEPT_FOR_MS (older ones are deleted),
   * in the order they were picked.
   */
  left(owner: string, now: number): Promise<UnsentFile[]>
  /** This tab's name, as kept files record it. */
  readonly tab: string
}

/** A photo not sent within a week is not offered again. */
export const KEPT_FOR_MS = 7 * 24 * 3600 * 1000

const TAB_LOCK_PREFIX = 'happypath.tab.'

/** The Web Lock names held now (tabs alive), or null where the browser has no Web Locks. */
type HeldLocks = () => Promise<Set<string> | null>

function isUnsent(value: unknown): value is UnsentFile {
  const v = value as Partial<UnsentFile> | null
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.key === 'string' &&
    typeof v.placeId === 'string' &&
    typeof v.owner === 'string' &&
    typeof v.tab === 'string' &&
    typeof v.pickedAt === 'number' &&
    typeof v.order === 'number' &&
    v.file instanceof Blob
  )
}

/**
 * The files kept in `backend`, a key-value store (IndexedDB in the app, a Map in unit tests). Failures are
 * logged and otherwise ignored: a browser that refuses storage (private browsing, a full disk) still sends
 * the photos, they just do not outlive the page.
 */
export function unsentFilesIn(
  backend: {
    set(key: string, value: UnsentFile): Promise<void>
    del(key: string): Promise<void>
    entries(): Promise<[IDBValidKey, unknown][]>
  },
  tab: string,
  heldLocks: HeldLocks,
): UnsentFiles {
  const warn = (what: string) => (err: unknown) => console.warn(`Could not ${what} the photo kept for sending`, err)
  return {
    tab,
    keep: (entry) => backend.set(entry.key, entry).catch(warn('keep')),
    forget: (key) => backend.del(key).catch(warn('forget')),
    async left(owner, now) {
      let all: [IDBValidKey, unknown][]
      try {
        all = await backend.entries()
      } catch (err) {
        warn('read')(err)
        return []
      }
      const live = await heldLocks().catch(() => null)
      const kept: UnsentFile[] = []
      for (const [key, value] of all) {
        if (!isUnsent(value) || now - value.pickedAt > KEPT_FOR_MS) void backend.del(String(key)).catch(warn('forget'))
        else if (value.owner === owner && value.tab !== tab && !live?.has(value.tab)) kept.push(value)
      }
      return kept.sort((a, b) => a.pickedAt - b.pickedAt || a.order - b.order)
    },
  }
}

const NOTHING_KEPT = { set: async () => {}, del: async () => {}, entries: async () => [] }

/** This page's store: IndexedDB, or nothing kept where the browser has no IndexedDB. */
export function browserUnsentFiles(): UnsentFiles {
  const tab = TAB_LOCK_PREFIX + crypto.randomUUID()
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  // Held until the tab goes away: the promise given to the lock never settles.
  void locks?.request(tab, () => new Promise<never>(() => {})).catch(() => {})
  const heldLocks: HeldLocks = async () => {
    if (!locks) return null
    const { held = [] } = await locks.query()
    return new Set(held.flatMap((lock) => (lock.name ? [lock.name] : [])))
  }
  if (typeof indexedDB === 'undefined') return unsentFilesIn(NOTHING_KEPT, tab, heldLocks)
  let store: ReturnType<typeof createStore> | null = null
  const open = () => (store ??= createStore('happypath', 'unsentFiles')) // opened at first use
  const backend = {
    set: async (key: string, value: UnsentFile) => set(key, value, open()),
    del: async (key: string) => del(key, open()),
    entries: async () => entries(open()),
  }
  return unsentFilesIn(backend, tab, heldLocks)
}
