/** Upload outcomes in plain words. Reason codes come from the backend (happypath.statuses.RejectionReason). */
import type { UploadView } from './api'

export const REASON_WORDS: Record<string, string> = {
  TOO_SMALL: 'the photo is too small (at least 800 px on each side)',
  TOO_LARGE: 'the photo is too large (at most 20 MB and 12,000 px on each side)',
  DAMAGED: 'the file is damaged',
  UNSUPPORTED_TYPE: 'the file is not a supported kind of photo (use JPEG, PNG or HEIC)',
  PEOPLE_NOT_ALLOWED: 'the photo is not allowed here because it shows people',
  INAPPROPRIATE_CONTENT: 'the photo was flagged as inappropriate content',
  PLACE_TYPE_NOT_ALLOWED: 'photos are not accepted for this kind of place',
  PLACE_NOT_FOUND: 'the place no longer exists',
  REPLACED: 'another photo was sent with the same upload while this one was being checked, please try again',
  FAILED: 'something went wrong, please try again',
  EXPIRED: 'the upload expired before the photo arrived, please try again',
}

/** Digits grouped the way the words above write limits: 12000 -> "12,000". */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/**
 * The part of the backend's detail a person can act on: the photo's own size, when that is why it was
 * refused (they can pick a larger or smaller photo). Anything else in a detail (a decoder's complaint,
 * byte offsets, tile counts) is for the logs, not for people: null then, and the general words stand.
 * The patterns follow workflows/.../imaging.py (_check_size); a detail in any other form is left out.
 */
function sizeDetail(reason: string, detail: string): string | null {
  if (reason === 'TOO_SMALL') {
    const m = /^(\d+)x(\d+): both sides must be at least (\d+) px$/.exec(detail)
    if (m) return `${grouped(+m[1]!)} × ${grouped(+m[2]!)} px; it needs at least ${grouped(+m[3]!)} px on each side`
  }
  if (reason === 'TOO_LARGE') {
    const m = /^(\d+)x(\d+) is over the limit \((\d+) px a side, (\d+) pixels\)$/.exec(detail)
    if (m) {
      const [w, h, side, pixels] = m.slice(1).map(Number) as [number, number, number, number]
      const size = `${grouped(w)} × ${grouped(h)} px`
      if (Math.max(w, h) > side) return `${size}; at most ${grouped(side)} px on each side`
      return `${size}, ${Math.round((w * h) / 1e6)} megapixels; at most ${Math.round(pixels / 1e6)}`
    }
  }
  return null
}

/**
 * A reason code in words, plus the detail only where it helps the person act (a photo too small or too
 * large says its size). Unknown codes (for instance an internal error name on a FAILED upload) read as
 * the generic FAILED words, never as the raw code; other details are left out.
 */
export function reasonToWords(reason: string | null | undefined, detail?: string | null): string {
  const words = (reason && REASON_WORDS[reason]) || REASON_WORDS.FAILED!
  const useful = reason && detail ? sizeDetail(reason, detail.trim().replace(/\.$/, '')) : null
  if (!useful) return words
  // The detail is the specific case of the words' general rule in brackets: say it once, not
  // "too small (at least 800 px on each side) (640 × 480 px; it needs at least 800 px on each side)".
  return `${words.replace(/ \([^()]*\)$/, '')} (${useful})`
}

/** The one line a person reads when an upload has finished. */
export function outcomeMessage(view: Pick<UploadView, 'status' | 'reason' | 'reasonDetail'>): string {
  switch (view.status) {
    case 'PROCESSED':
      return 'Added! Your photo is now on this page.'
    case 'EXPIRED':
      return `Not added: ${REASON_WORDS.EXPIRED}.`
    case 'REJECTED':
      return `Not added: ${reasonToWords(view.reason, view.reasonDetail)}.`
    default:
      return `Not added: ${reasonToWords(view.reason ?? 'FAILED', view.reasonDetail)}.`
  }
}
