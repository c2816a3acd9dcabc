export function formatDistance(metres: number): string {
  if (!Number.isFinite(metres)) return ''
  if (metres < 995) return `${Math.max(0, Math.round(metres / 10) * 10)} m` // 995 m and up round to 1 km, not "1000 m"
  const km = metres / 1000
  return `${km < 10 ? km.toFixed(1).replace(/\.0$/, '') : Math.round(km)} km`
}

/**
 * "960 m away" when measured from the person; "960 m from the default location" when from another point (no
 * location shared, or another area searched): "away" from a point the person is not at would mislead.
 */
export function formatDistanceFrom(metres: number, from: string | null): string {
  return `${formatDistance(metres)} ${from === null ? 'away' : `from ${from}`}`
}

export function formatDate(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return ''
  return d.toLocaleDateString(undefined, { year: 'numeric', month: 'short', day: 'numeric' })
}

const TYPE_LABELS: Record<string, [string, string]> = {
  park: ['Park', 'Parks'],
  restaurant: ['Restaurant', 'Restaurants'],
  cafe: ['Cafe', 'Cafes'],
  bar: ['Bar', 'Bars'],
  museum: ['Museum', 'Museums'],
  beach: ['Beach', 'Beaches'],
  other: ['Other place', 'Other places'],
}

export function typeLabel(type: string): string {
  return TYPE_LABELS[type]?.[0] ?? type.charAt(0).toUpperCase() + type.slice(1).replace(/[_-]/g, ' ')
}

/** "Parks", "Restaurants, cafes and bars" — what the home page is about. */
export function typesHeading(types: string[]): string {
  const names = types.map((t) => TYPE_LABELS[t]?.[1] ?? `${typeLabel(t)}s`)
  if (names.length === 0) return 'Places'
  const lower = names.map((n, i) => (i === 0 ? n : n.toLowerCase()))
  return lower.length === 1 ? lower[0]! : `${lower.slice(0, -1).join(', ')} and ${lower[lower.length - 1]}`
}
