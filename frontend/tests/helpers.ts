import { mount, type ComponentMountingOptions } from '@vue/test-utils'
import { ref, type Component } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { vi } from 'vitest'
import { API_KEY } from '../src/composables/useApi'
import { AUTH_KEY, type Auth, type AuthUser } from '../src/composables/useAuth'
import { CONFIG_KEY } from '../src/composables/useConfig'
import { UPLOADS_KEY, createUploads, type Uploads } from '../src/composables/useUpload'
import type { Api, NearbyPlace, Photo, Place, PlaceDetail } from '../src/lib/api'
import type { AppConfig } from '../src/lib/config'
import { unsentFilesIn, type KeyValueStore, type TabLocks } from '../src/lib/unsentFiles'

export const testConfig: AppConfig = {
  apiUrl: 'http://api.test',
  auth: { authority: 'http://issuer.test', clientId: 'client', scope: 'openid profile email', redirectPath: '/callback' },
  map: { tileUrl: '', attribution: '', center: [47.37, 8.54], zoom: 13 },
  placeTypes: ['park'],
  title: 'Happy Path',
}

export function makePlace(over: Partial<Place> = {}): Place {
  return {
    placeId: 'p1',
    name: 'Rose Park',
    type: 'park',
    lat: 47.37,
    lng: 8.54,
    address: null,
    createdAt: '2026-05-01T10:00:00.000Z',
    ...over,
  }
}

export function near(place: Partial<Place>, distanceM: number): NearbyPlace {
  return { place: makePlace(place), distanceM }
}

/** GET /places/{id} for Rose Park (or `more.place`) with these photos, one page, taking photos. */
export function placeDetail(photos: Photo[], more: Partial<PlaceDetail> = {}): PlaceDetail {
  return { place: makePlace(), takesPhotos: true, photos, nextCursor: null, ...more }
}

export function makePhoto(id: string, placeId = 'p1'): Photo {
  const cdn = `https://cdn.test/${placeId}/${id}`
  return {
    photoId: id,
    placeId,
    publishedAt: '2026-05-02T12:00:00.000Z',
    width: 4032,
    height: 3024,
    renditions: {
      tile: { width: 400, height: 400, jpeg: `${cdn}/tile.jpg`, webp: `${cdn}/tile.webp` },
      scaled: { width: 600, height: 450, jpeg: `${cdn}/scaled.jpg`, webp: `${cdn}/scaled.webp` },
    },
  }
}

export function fakeApi(over: Partial<Api> = {}): Api {
  const fail = (name: string) => vi.fn(async () => {
    throw new Error(`unexpected call to api.${name}`)
  })
  return {
    nearbyPlaces: fail('nearbyPlaces'),
    createPlace: fail('createPlace'),
    getPlace: fail('getPlace'),
    listPhotos: fail('listPhotos'),
    getPhoto: fail('getPhoto'),
    createUpload: fail('createUpload'),
    getUpload: fail('getUpload'),
    myPhotos: fail('myPhotos'),
    deletePhoto: fail('deletePhoto'),
    ...over,
  } as Api
}

/** api.myPhotos for a user who published these photos. */
export function owning(...ids: string[]) {
  return vi.fn(async (asked: string[]) => asked.filter((id) => ids.includes(id)))
}

export function fakeAuth(user: AuthUser | null = null): Auth {
  const signedIn = ref(user)
  return {
    user: signedIn,
    ready: ref(true),
    signIn: vi.fn(async () => {}),
    signOut: vi.fn(async () => {}),
    handleCallback: vi.fn(async () => '/'),
    getAccessToken: vi.fn(async () => (user ? 'token' : null)),
    forgetSession: vi.fn(async () => {
      const dropped = signedIn.value !== null
      signedIn.value = null
      return dropped
    }),
  }
}

export const Stub = { template: '<div />' }

export function testRouter() {
  return createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', name: 'home', component: Stub },
      { path: '/places/:placeId', name: 'place', component: Stub },
    ],
  })
}

export function mountWith<C extends Component>(
  component: C,
  opts: {
    props?: Record<string, unknown>
    api?: Api
    auth?: Auth
    config?: AppConfig
    router?: ReturnType<typeof testRouter>
    /** The app's upload store; by default a fresh one on the given API and user. */
    uploads?: Uploads
    attachTo?: HTMLElement
  } = {},
) {
  const router = opts.router ?? testRouter()
  const api = opts.api ?? fakeApi()
  const auth = opts.auth ?? fakeAuth()
  const uploads = opts.uploads ?? createUploads({ api, user: auth.user })
  const wrapper = mount(component, {
    props: opts.props,
    attachTo: opts.attachTo,
    global: {
      plugins: [router],
      provide: {
        [CONFIG_KEY as symbol]: opts.config ?? testConfig,
        [API_KEY as symbol]: api,
        [AUTH_KEY as symbol]: auth,
        [UPLOADS_KEY as symbol]: uploads,
      },
    },
  } as ComponentMountingOptions<C>)
  return { wrapper, router, uploads }
}

/** A stand-in for XMLHttpRequest that the test drives: progress, then an answer. */
export class FakeXhr {
  static instances: FakeXhr[] = []
  method = ''
  url = ''
  body: FormData | null = null
  status = 0
  responseText = ''
  aborted = false
  upload: { onprogress: ((e: Partial<ProgressEvent>) => void) | null } = { onprogress: null }
  onload: (() => void) | null = null
  onerror: (() => void) | null = null
  ontimeout: (() => void) | null = null
  onabort: (() => void) | null = null

  constructor() {
    FakeXhr.instances.push(this)
  }

  open(method: string, url: string) {
    this.method = method
    this.url = url
  }

  send(body: FormData) {
    this.body = body
  }

  abort() {
    this.aborted = true
    this.onabort?.()
  }

  progress(loaded: number, total: number) {
    this.upload.onprogress?.({ lengthComputable: true, loaded, total })
  }

  respond(status: number, text = '') {
    this.status = status
    this.responseText = text
    this.onload?.()
  }
}

export function fileOf(name: string, type: string, size: number): File {
  // A small real body; `size` is reported as given so limits can be tested without big buffers.
  const file = new File([new Uint8Array(Math.min(size, 64))], name, { type })
  Object.defineProperty(file, 'size', { value: size })
  return file
}

/**
 * The kept-files store of one tab over a Map shared by the "tabs" of a test (IndexedDB's part, which only a
 * browser has, is covered by the browser tests). `held` holds the Web Lock names of the tabs still open.
 */
export function memoryUnsentFiles(shared: Map<string, unknown>, held: Set<string>, tab = `tab-${held.size + 1}-${Math.random()}`) {
  const backend: KeyValueStore = {
    set: async (key, value) => void shared.set(key, value),
    del: async (key) => void shared.delete(key),
    entries: async () => [...shared.entries()] as [IDBValidKey, unknown][],
  }
  let queue: Promise<unknown> = Promise.resolve()
  const locks: TabLocks = {
    hold: async (name) => void held.add(name),
    release: (name) => void held.delete(name),
    held: async () => new Set(held),
    exclusive: <T>(_name: string, task: () => Promise<T>) => {
      const run = queue.then(task)
      queue = run.catch(() => {})
      return run
    },
  }
  return unsentFilesIn(backend, tab, locks)
}
