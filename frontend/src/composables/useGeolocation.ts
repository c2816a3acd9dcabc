import { ref } from 'vue'

export interface LatLng {
  lat: number
  lng: number
}

/** The mean Earth radius (IUGG), the one the API measures distances with. */
const EARTH_RADIUS_M = 6_371_008.8

/** Great-circle distance in metres (haversine). */
export function metresBetween(a: LatLng, b: LatLng): number {
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLng = (b.lng - a.lng) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)))
}

export type LocationSource = 'pending' | 'device' | 'default'

/** The browser's position if the person allows it, else the configured centre (with a note saying so). */
export function useGeolocation(
  fallback: [number, number],
  geolocation: Geolocation | undefined = typeof navigator !== 'undefined' ? navigator.geolocation : undefined,
  // Browsers share a location only with a secure page (https, or localhost): the local app opened on a phone
  // at http://<laptop's address> gets a refusal that would read as the person's own choice.
  secureContext: boolean = typeof window === 'undefined' || window.isSecureContext !== false,
  permissions: Pick<Permissions, 'query'> | undefined = typeof navigator !== 'undefined' ? navigator.permissions : undefined,
) {
  const position = ref<LatLng>({ lat: fallback[0], lng: fallback[1] })
  const source = ref<LocationSource>('pending')
  const note = ref('')

  function useDefault(text: string) {
    position.value = { lat: fallback[0], lng: fallback[1] }
    source.value = 'default'
    note.value = text
  }

  /** Whether the browser's settings block location for this site: it then refuses without asking the person. */
  async function blocked(): Promise<boolean> {
    try {
      return (await permissions?.query({ name: 'geolocation' }))?.state === 'denied'
    } catch {
      return false // a browser that cannot say
    }
  }

  async function refusalNote(code: number): Promise<string> {
    if (code !== 1) return 'Your location could not be found: showing places near the default location.'
    if (!secureContext) {
      return 'This page is not secure (https), so the browser does not share a location: showing places near the default location.'
    }
    return (await blocked())
      ? "Location is blocked for this site: allow it in the browser's site settings, then choose Use my location again."
      : 'Location not shared: showing places near the default location.'
  }

  function locate(timeoutMs = 8000): Promise<void> {
    if (!geolocation) {
      useDefault('This browser cannot share a location: showing places near the default location.')
      return Promise.resolve()
    }
    source.value = 'pending'
    note.value = 'Finding your location…'
    return new Promise((resolve) => {
      geolocation.getCurrentPosition(
        (pos) => {
          position.value = { lat: pos.coords.latitude, lng: pos.coords.longitude }
          source.value = 'device'
          note.value = ''
          resolve()
        },
        (err) => {
          void refusalNote(err.code).then((text) => {
            useDefault(text)
            resolve()
          })
        },
        { enableHighAccuracy: false, timeout: timeoutMs, maximumAge: 5 * 60_000 },
      )
    })
  }

  /**
   * Where the device says the person is now, a precise fix made for the asking, or null when it cannot say: for
   * placing a new place where one stands. `locate`'s fix is coarse and may be minutes old, fine for a search but not
   * for a pin, and the browser would hand it back, even asked for precision, to any request that accepts its age
   * (maximumAge 0: none). The page's position and search stay as they are.
   */
  function here(timeoutMs = 10_000): Promise<LatLng | null> {
    if (!geolocation) return Promise.resolve(null)
    return new Promise((resolve) => {
      geolocation.getCurrentPosition(
        (pos) => resolve({ lat: pos.coords.latitude, lng: pos.coords.longitude }),
        () => resolve(null),
        { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 0 },
      )
    })
  }

  return { position, source, note, locate, here }
}
