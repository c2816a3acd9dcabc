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

/**
 * A reason code (plus optional detail) in words. Unknown codes (for instance an internal error
 * name on a FAILED upload) read as the generic FAILED words, never as the raw code.
 */
export function reasonToWords(reason: string | null | undefined, detail?: string | null): string {
  const words = (reason && REASON_WORDS[reason]) || REASON_WORDS.FAILED!
  const extra = detail?.trim().replace(/\.$/, '')
  if (!extra) return words
  // The detail is the specific case of the words' general rule in brackets: say it once, not
  // "too small (at least 800 px on each side) (640x480: both sides must be at least 800 px)".
  return `${words.replace(/ \([^()]*\)$/, '')} (${extra})`
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
