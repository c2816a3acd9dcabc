/**
 * Photos picked but not yet in storage, kept in IndexedDB (photos are too big for localStorage). A phone
 * discards a tab left in the background, and a person closes one: without this, the photos still waiting
 * or being sent would be gone without a word. The next page the same person opens offers them again.
 *
 * Each kept file names the tab that keeps it, and that tab holds a Web Lock of that name while it keeps any:
 * another tab open at the same time leaves them alone (it would send them a second time). A tab that offers
 * a closed tab's files takes them over, under one lock for all tabs, so no third tab offers them too. The lock
 * is held only while the tab keeps files: a page holding a lock is kept out of the back/forward cache.
 */
import { createStore, del, entries, set } from 'idb-keyval'
import { newKey } from './ids'

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
  /** The Web Lock name of the tab that keeps it. */
  tab: string
  /** The upload its form was for, once asked for: the photo may have reached storage before the tab closed. */
  uploadId?: string
}

export interface UnsentFiles {
  /** Keeps a file, or what is known of it now (the same key). */
  keep(entry: UnsentFile): Promise<void>
  forget(key: string): Promise<void>
  /**
   * Takes over the files of `owner` that no open tab keeps, picked in the last KEPT_FOR_MS (older ones are
   * deleted), in the order they were picked; none once `stillWanted()` says no.
   */
  claim(owner: string, now: number, stillWanted?: () => boolean): Promise<UnsentFile[]>
  /** This tab's name, as kept files record it. */
  readonly tab: string
}

/** A photo not sent within a week is not offered again. */
export const KEPT_FOR_MS = 7 * 24 * 3600 * 1000

const TAB_LOCK_PREFIX = 'happypath.tab.'
const CLAIM_LOCK = 'happypath.unsentFiles.claim'

/** Web Locks as the store uses them (navigator.locks in the app, a Set in unit tests). */
export interface TabLocks {
  /** Resolves once `name` is held; it stays held until `release(name)` or the tab goes away. */
  hold(name: string): Promise<void>
  release(name: string): void
  /** The names held now, by any tab. */
  held(): Promise<Set<string>>
  /** Runs `task` while no other tab runs one under `name`. */
  exclusive<T>(name: string, task: () => Promise<T>): Promise<T>
}

export interface KeyValueStore {
  set(key: string, value: UnsentFile): Promise<void>
  del(key: string): Promise<void>
  entries(): Promise<[IDBValidKey, unknown][]>
}

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
    (v.uploadId === undefined || typeof v.uploadId === 'string') &&
    v.file instanceof Blob
  )
}

/**
 * The files kept in `backend` for the tab named `tab`. Failures are logged and otherwise ignored: a browser
 * that refuses storage (private browsing, a full disk) still sends the photos, they just do not outlive the page.
 */
export function unsentFilesIn(backend: KeyValueStore, tab: string, locks: TabLocks): UnsentFiles {
  const warn = (what: string) => (err: unknown) => console.warn(`Could not ${what} the photo kept for sending`, err)
  const mine = new Set<string>()
  let holding: Promise<void> | null = null
  // One operation at a time, in the order asked: a file kept with its upload's id and then forgotten (it reached
  // storage) must not be written back by the keep finishing last.
  let last: Promise<unknown> = Promise.resolve()
  const inOrder = <T>(task: () => Promise<T>): Promise<T> => {
    const run = last.then(task)
    last = run.catch(() => {})
    return run
  }

  async function own(key: string) {
    mine.add(key)
    await (holding ??= locks.hold(tab)) // before the entry names this tab: no other tab takes it meanwhile
  }

  return {
    tab,
    keep: (entry) =>
      inOrder(async () => {
        await own(entry.key)
        await backend.set(entry.key, entry)
      }).catch(warn('keep')),
    forget: (key) =>
      inOrder(async () => {
        await backend.del(key)
        if (mine.delete(key) && mine.size === 0 && holding) {
          holding = null
          locks.release(tab)
        }
      }).catch(warn('forget')),
    async claim(owner, now, stillWanted = () => true) {
      try {
        return await inOrder(() => locks.exclusive(CLAIM_LOCK, async () => {
          const all = await backend.entries()
          const live = await locks.held()
          const claimed: UnsentFile[] = []
          for (const [key, value] of all) {
            if (!isUnsent(value) || now - value.pickedAt > KEPT_FOR_MS) await backend.del(String(key))
            else if (value.owner === owner && value.tab !== tab && !live.has(value.tab)) claimed.push(value)
          }
          if (!claimed.length || !stillWanted()) return []
          const taken = claimed.map((entry) => ({ ...entry, tab }))
          for (const entry of taken) {
            await own(entry.key)
            await backend.set(entry.key, entry)
          }
          return taken.sort((a, b) => a.pickedAt - b.pickedAt || a.order - b.order)
        }))
      } catch (err) {
        warn('read')(err)
        return []
      }
    },
  }
}

function browserLocks(locks: LockManager): TabLocks {
  const releases = new Map<string, () => void>()
  return {
    hold: (name) =>
      new Promise<void>((granted, refused) => {
        locks
          .request(name, () => new Promise<void>((release) => (releases.set(name, release), granted())))
          .catch(refused)
      }),
    release(name) {
      releases.get(name)?.()
      releases.delete(name)
    },
    async held() {
      const { held = [] } = await locks.query()
      return new Set(held.flatMap((lock) => (lock.name ? [lock.name] : [])))
    },
    // The lock manager's typings return Promise<Promise<T>> for an async task; it resolves to T.
    exclusive: <T>(name: string, task: () => Promise<T>) => locks.request(name, task) as Promise<T>,
  }
}

const NOTHING_KEPT: UnsentFiles = {
  tab: '',
  keep: async () => {},
  forget: async () => {},
  claim: async () => [],
}

/**
 * This page's store: IndexedDB, or nothing kept where the browser has no IndexedDB or no Web Locks (also every
 * plain-http page: Web Locks are for secure pages only). Without the locks, two tabs could send a file twice.
 */
export function browserUnsentFiles(): UnsentFiles {
  const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined
  if (typeof indexedDB === 'undefined' || !locks) return NOTHING_KEPT
  let store: ReturnType<typeof createStore> | null = null
  const open = () => (store ??= createStore('happypath', 'unsentFiles')) // opened at first use
  const backend: KeyValueStore = {
    set: async (key, value) => set(key, value, open()),
    del: async (key) => del(key, open()),
    entries: async () => entries(open()),
  }
  return unsentFilesIn(backend, TAB_LOCK_PREFIX + newKey(), browserLocks(locks))
}
